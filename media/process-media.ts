// What a session process needs to hold its room itself (SESSION_ISOLATION=process): the media
// owner and its own Silero model. A bundle entry of its own, loaded by URL, so that session
// threads (whose room the media thread holds) never load rtc-node's rooms or ONNX Runtime.
export { MediaOwner } from './media-owner.ts';
export { SpeechDetector } from './speech-detector.ts';
