// What the offline interviewer says next, decided from the chat context alone: no model, no
// randomness, so a test can assert every word.
//
// The plan is a list of steps: greeting, each technical question in order, the coding problem,
// wrap-up. Progress is read back from the interviewer's own earlier messages: a step counts as
// delivered once an assistant message holds its prompt in full, so follow-ups, repeats and
// check-ins do not advance the plan, and a question cut off by the candidate is asked again.
//
// System text it understands (matched per line, in chat order; the last matching line wins):
// - coding, quiet: a line saying the candidate is (now) coding and to stay quiet / not interrupt
//   / speak only when spoken to, e.g. "The candidate is now coding; stay quiet unless they speak
//   to you." Until a line mentioning conversational mode (or that they finished coding) follows,
//   a candidate who does not address the interviewer (a question, "hint", "help", "done", "you")
//   gets no reply at all: the silent outcome, which the LLM plugin turns into a stay_silent call.
//   The candidate's words since the interviewer last replied or stayed silent make the turn. A
//   candidate who does address it gets the coding step's replies (a hint, the wrap-up on "done").
// - check-in: a last instruction line (what `generateReply({ instructions })` appends) asking to
//   check in, e.g. "The candidate has been silent for a while: check in briefly." With no new
//   words from the candidate, the reply is one short check-in sentence.
// - code: the candidate's code (a system message starting with CODE_MESSAGE_HEADING). Check-ins
//   and replies about the code name the functions defined in every code message of the context, so an
//   update that failed to replace the one before would show.
import type { llm } from '@livekit/agents';
import type { InterviewPlan } from '../../../shared/protocol.ts';
import { AGENT_INSTRUCTIONS_MESSAGE_ID } from '../../voice/agents-compat.ts';
import { CODE_MESSAGE_HEADING, STAY_SILENT_TOOL } from '../../voice/interview-policy.ts';

const DEFAULT_QUESTIONS = [
  'Tell me about a recent project you are proud of, and what your part in it was.',
  'How would you design a rate limiter for a public API?',
  'How do you decide between a relational database and a document store for a new service?',
];
const DEFAULT_CODING_PROBLEM =
  'Write a function that takes a list of integers and a target number, and returns the positions of two numbers in the list that add up to the target.';

/** An answer shorter than this gets one request for more detail. */
const SHORT_ANSWER_WORDS = 8;
const FOLLOW_UP_MARKER = 'tell me a bit more';

const REPEAT = /\b(repeat|say (that|it) again|come again|pardon|(didn't|did not) (catch|hear|get|understand)|one more time)\b/i;
const DONE = /\b(i'm done|i am done|done now|finished|that's my solution|that is my solution|i'm ready|i am ready)\b/i;
const HELP = /\b(hint|stuck|help|clarify|question|confused)\b/i;
/** A question put to the interviewer: transcripts may lack the question mark, not the opening verb. */
const ASKS = /\?\s*$|^(is|are|can|could|should|may|do|does)\s+(i|it|we|that|this)\b/i;
const TO_INTERVIEWER = /\b(you|your|interviewer)\b/i;
const CODING_NOW = /\b(is|are|now|currently|started|starting)\s+(now\s+)?(coding|writing (their |the )?code|working on the (code|coding problem))\b/i;
const STAY_QUIET = /\b(quiet|silent|interrupt|unless|only (speak|respond|reply|answer))\b/i;
const CONVERSATIONAL = /\bconversational\b|\b(finished|done|stopped) (coding|with the code)\b/i;
const CHECK_IN = /\bcheck(ing)?[- ]?in\b|\bcheck on\b/i;
/** Function definitions: Python, Go, Rust, JavaScript (declarations and assigned functions), C-family. */
const FUNCTION_DEFINITIONS = [
  /\b(?:def|func|fn|function\*?)\s+([A-Za-z_$][\w$]*)\s*[(<]/g,
  /\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:async\s*)?(?:function\b|\([^()]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)/g,
  /^[ \t]*(?:[\w<>[\]*&:,]+[ \t]+)+([A-Za-z_]\w*)[ \t]*\([^;{}()]*\)[ \t]*(?:const[ \t]*)?\{/gm,
];
const NOT_FUNCTION_NAMES = new Set(['if', 'for', 'while', 'switch', 'catch', 'return', 'else', 'new', 'do', 'sizeof']);

const STOPWORDS = new Set(
  (
    'about above after again against also because been before being below between both could does doing down during ' +
    'each from further have having here into itself just like more most much myself only other ought ours over really ' +
    'same should some such than that their them then there these they thing things think this those through ' +
    'under until very want well were what when where which while will with would your yours yeah okay sure maybe ' +
    'actually basically probably something someone kind sort lots used using make made know mean guess pretty quite'
  ).split(' '),
);

type StepKind = 'greeting' | 'question' | 'coding' | 'wrapup';

interface Step {
  kind: StepKind;
  /** What the candidate must hear; said again on "can you repeat that". */
  prompt: string;
  /** Said before the prompt the first time only. */
  lead: string;
  /** Said after the prompt the first time only. */
  tail: string;
}

export interface ScriptedReply {
  /** What to say; empty when silent. */
  text: string;
  /** Which rule chose the reply, for logs. */
  rule: string;
  /** No reply at all: the interviewer lets the turn pass (CODING, not spoken to). */
  silent?: true;
}

const SILENT: ScriptedReply = { rule: 'silent', text: '', silent: true };

interface Conversation {
  assistantMessages: llm.ChatMessage[];
  /** What the candidate said since the interviewer last spoke ('' when nothing). */
  newUserText: string;
  codingQuiet: boolean;
  checkInRequested: boolean;
  /** Functions defined in the candidate's code, in order, each once. */
  functions: string[];
}

export class InterviewScript {
  readonly #steps: Step[];
  readonly #name: string | undefined;

  constructor(plan: InterviewPlan = {}) {
    this.#name = plan.candidate_name?.trim() || undefined;
    const role = plan.role?.trim();
    // An empty list or problem counts as absent: an interview needs something to ask.
    const questions = plan.questions?.length ? plan.questions : DEFAULT_QUESTIONS;
    const codingProblem = plan.coding_problem?.trim() || DEFAULT_CODING_PROBLEM;
    this.#steps = [
      {
        kind: 'greeting',
        lead: `Hi${this.#name ? ` ${this.#name}` : ''}, welcome, and thanks for joining. I'm your interviewer today${role ? ` for the ${role} role` : ''}.`,
        prompt: 'To start, could you briefly introduce yourself?',
        tail: '',
      },
      ...questions.map((question, i): Step => ({
        kind: 'question',
        lead: i === 0 ? "Let's start with the first question." : i === questions.length - 1 ? 'Here is my last question.' : 'Next question.',
        prompt: question.trim(),
        tail: '',
      })),
      {
        kind: 'coding',
        lead: "Now let's move on to a coding problem.",
        prompt: codingProblem,
        tail: "Take your time, think out loud if you like, and tell me when you're done.",
      },
      {
        kind: 'wrapup',
        lead: '',
        prompt: `That's all the questions I have${this.#name ? `, ${this.#name}` : ''}. Thank you for your time today, we'll be in touch soon. Goodbye!`,
        tail: '',
      },
    ];
  }

  /** The interviewer's next turn, given everything said so far. */
  reply(chatCtx: llm.ChatContext): ScriptedReply {
    const conversation = readConversation(chatCtx);
    const said = conversation.assistantMessages.map((message) => normalized(message.textContent ?? ''));
    const current = this.#deliveredStep(said);
    if (current < 0) return { rule: 'greeting', text: this.#deliver(0) };
    const step = this.#steps[current]!;
    const heard = conversation.newUserText;

    if (!heard) {
      if (conversation.checkInRequested) {
        const functions = conversation.functions.join(' and ');
        return {
          rule: 'check-in',
          text: `How are you getting on${functions ? ` with ${functions}` : ''}${this.#name ? `, ${this.#name}` : ''}, would you like a hint or to talk me through your approach?`,
        };
      }
      if (step.kind === 'wrapup') return { rule: 'closed', text: 'Thank you again. Goodbye!' };
      return { rule: 'resume', text: `Sorry about that, we lost each other for a moment. Let's pick up where we left off. ${step.prompt}` };
    }
    if (step.kind === 'wrapup') return { rule: 'closed', text: 'Thank you again. Goodbye!' };
    if (REPEAT.test(heard)) return { rule: 'repeat', text: `Sure. ${step.prompt}` };
    if (conversation.codingQuiet && !addressesInterviewer(heard)) return SILENT;

    const lastMessage = conversation.assistantMessages.at(-1);
    const opener = lastMessage?.interrupted ? 'Sorry for talking over you. ' : '';
    // While the candidate codes (the plan's coding step, or CODING mode whatever the plan's progress), replies are about the code.
    if (step.kind === 'coding' || conversation.codingQuiet) {
      const functions = conversation.functions.join(' and ');
      if (DONE.test(heard)) {
        return { rule: 'wrap-up', text: `${opener}Thanks for walking me through ${functions || 'your solution'}. ${this.#deliver(current + 1)}` };
      }
      if (HELP.test(heard) || ASKS.test(heard)) {
        const start = functions
          ? `Looking at ${functions} in your code, start with the simplest approach`
          : 'Start with the simplest approach';
        return { rule: 'hint', text: `${opener}Good question. ${start} that works, then we can look at making it faster.` };
      }
      return { rule: 'coding', text: `${opener}Okay. Take your time, and tell me when you're done.` };
    }

    const keyword = keywordOf(heard);
    if (wordCount(heard) < SHORT_ANSWER_WORDS && !this.#followedUp(said, step)) {
      return { rule: 'follow-up', text: opener + followUp(step, keyword) };
    }
    const thanks = keyword ? `Thank you, I noted what you said about ${keyword}.` : 'Thank you.';
    return { rule: 'next', text: `${opener}${thanks} ${this.#deliver(current + 1)}` };
  }

  /** The index of the furthest step whose prompt the interviewer has said, or -1. */
  #deliveredStep(said: string[]): number {
    for (let i = this.#steps.length - 1; i >= 0; i--) {
      const prompt = normalized(this.#steps[i]!.prompt);
      if (said.some((text) => text.includes(prompt))) return i;
    }
    return -1;
  }

  /** Whether more detail was already asked for since `step` was last delivered. */
  #followedUp(said: string[], step: Step): boolean {
    const prompt = normalized(step.prompt);
    const deliveredAt = said.findLastIndex((text) => text.includes(prompt));
    return said.slice(deliveredAt + 1).some((text) => text.includes(FOLLOW_UP_MARKER));
  }

  #deliver(index: number): string {
    const step = this.#steps[index]!;
    return [step.lead, step.prompt, step.tail].filter(Boolean).join(' ');
  }
}

function readConversation(chatCtx: llm.ChatContext): Conversation {
  const isMessage = (item: llm.ChatItem): item is llm.ChatMessage => item.type === 'message';
  const messages = chatCtx.items.filter(isMessage);
  const assistantMessages = messages.filter((message) => message.role === 'assistant');
  // The interviewer's last turn: a reply, or a turn it let pass in silence.
  const lastTurnAt = chatCtx.items.findLastIndex(
    (item) => (isMessage(item) && item.role === 'assistant') || (item.type === 'function_call' && item.name === STAY_SILENT_TOOL.name),
  );
  const newUserText = chatCtx.items
    .slice(lastTurnAt + 1)
    .filter((item) => isMessage(item) && item.role === 'user')
    .map((message) => (message as llm.ChatMessage).textContent ?? '')
    .join(' ')
    .trim();

  const isCode = (message: llm.ChatMessage) => (message.textContent ?? '').startsWith(CODE_MESSAGE_HEADING);
  const functions = [...new Set(messages.filter(isCode).flatMap((message) => functionNames(message.textContent ?? '')))];
  const system = messages.filter((message) => (message.role === 'system' || message.role === 'developer') && !isCode(message));
  let codingQuiet = false;
  for (const line of system.flatMap((message) => lines(message))) {
    if (CODING_NOW.test(line) && STAY_QUIET.test(line)) codingQuiet = true;
    else if (CONVERSATIONAL.test(line)) codingQuiet = false;
  }
  // A request for this turn only is the last line of the instructions message, or of a system
  // message that closes the context.
  const instructions = system.find((message) => message.id === AGENT_INSTRUCTIONS_MESSAGE_ID);
  const closing = messages.at(-1);
  const requestLines = [instructions, closing && system.includes(closing) ? closing : undefined].map((message) =>
    message ? (lines(message).at(-1) ?? '') : '',
  );
  return {
    assistantMessages,
    newUserText,
    codingQuiet,
    checkInRequested: requestLines.some((line) => CHECK_IN.test(line)),
    functions,
  };
}

/** The names of the functions `code` defines, in the order they appear. */
export function functionNames(code: string): string[] {
  const found = FUNCTION_DEFINITIONS.flatMap((pattern) =>
    [...code.matchAll(pattern)].map((match) => ({ name: match[1]!, at: match.index })),
  );
  found.sort((a, b) => a.at - b.at);
  return [...new Set(found.map((f) => f.name).filter((name) => !NOT_FUNCTION_NAMES.has(name)))];
}

function lines(message: llm.ChatMessage): string[] {
  return (message.textContent ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

function addressesInterviewer(text: string): boolean {
  return REPEAT.test(text) || DONE.test(text) || HELP.test(text) || ASKS.test(text) || TO_INTERVIEWER.test(text);
}

function followUp(step: Step, keyword: string | undefined): string {
  if (step.kind === 'greeting') return `Could you ${FOLLOW_UP_MARKER} about your background and what you work on now?`;
  return `Could you ${FOLLOW_UP_MARKER}${keyword ? ` about ${keyword}` : ''}? For example, a concrete situation, or the trade-offs you considered.`;
}

/** The answer's longest content word (first of equals), to show it was heard. */
function keywordOf(text: string): string | undefined {
  const words = (text.toLowerCase().match(/[a-z][a-z0-9+#-]*/g) ?? []).filter(
    (word) => word.length >= 4 && !STOPWORDS.has(word),
  );
  return words.reduce<string | undefined>((best, word) => (!best || word.length > best.length ? word : best), undefined);
}

function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function normalized(text: string): string {
  return text.replace(/\s+/g, ' ').trim().toLowerCase();
}
