// The offline interviewer as a LiveKit Agents LLM plugin: the reply comes from the interview
// script (interview-script.ts) and is streamed word by word with small delays, the way a fast
// hosted model streams, so the TTS and transcription see text arrive over time rather than at once.
// One tool call it makes: stay_silent (when offered), for a turn the script leaves unanswered;
// the framework then runs the tool and speaks nothing, as with a hosted model calling it.
import { setTimeout as sleep } from 'node:timers/promises';
import { type APIConnectOptions, DEFAULT_API_CONNECT_OPTIONS, llm, shortuuid } from '@livekit/agents';
import { logger } from '../../../shared/logging.ts';
import type { InterviewPlan } from '../../../shared/protocol.ts';
import { STAY_SILENT_TOOL } from '../../voice/interview-policy.ts';
import { InterviewScript } from './interview-script.ts';

const log = logger('llm');

export interface ScriptedLLMOptions {
  /** The interview to conduct; built-in questions and coding problem where absent. */
  plan?: InterviewPlan;
  /** Delay before the first word (time to first token). Default 5 ms. */
  firstTokenDelayMs?: number;
  /** Delay between words. Default 10 ms, about a hosted model's 100 tokens per second. */
  tokenIntervalMs?: number;
}

export class ScriptedLLM extends llm.LLM {
  readonly #script: InterviewScript;
  readonly #firstTokenDelayMs: number;
  readonly #tokenIntervalMs: number;

  constructor(options: ScriptedLLMOptions = {}) {
    super();
    this.#script = new InterviewScript(options.plan);
    this.#firstTokenDelayMs = options.firstTokenDelayMs ?? 5;
    this.#tokenIntervalMs = options.tokenIntervalMs ?? 10;
  }

  label(): string {
    return 'offline.ScriptedLLM';
  }

  override get model(): string {
    return 'scripted-interviewer';
  }

  override get provider(): string {
    return 'offline';
  }

  chat({
    chatCtx,
    toolCtx,
    connOptions = DEFAULT_API_CONNECT_OPTIONS,
  }: {
    chatCtx: llm.ChatContext;
    toolCtx?: llm.ToolContextLike;
    connOptions?: APIConnectOptions;
  }): llm.LLMStream {
    return new ScriptedLLMStream(this, chatCtx, toolCtx, connOptions, {
      script: this.#script,
      firstTokenDelayMs: this.#firstTokenDelayMs,
      tokenIntervalMs: this.#tokenIntervalMs,
    });
  }
}

interface StreamPacing {
  script: InterviewScript;
  firstTokenDelayMs: number;
  tokenIntervalMs: number;
}

class ScriptedLLMStream extends llm.LLMStream {
  readonly #pacing: StreamPacing;

  constructor(
    owner: ScriptedLLM,
    chatCtx: llm.ChatContext,
    toolCtx: llm.ToolContextLike | undefined,
    connOptions: APIConnectOptions,
    pacing: StreamPacing,
  ) {
    super(owner, { chatCtx, toolCtx, connOptions });
    this.#pacing = pacing;
  }

  protected async run(): Promise<void> {
    const { script, firstTokenDelayMs, tokenIntervalMs } = this.#pacing;
    const reply = script.reply(this.chatCtx);
    log.debug('scripted reply', { rule: reply.rule, characters: reply.text.length });
    const id = shortuuid('scripted_');
    if (reply.silent) {
      if (this.toolCtx?.hasTool(STAY_SILENT_TOOL.name)) {
        await sleep(firstTokenDelayMs);
        const call = llm.FunctionCall.create({ callId: shortuuid('call_'), name: STAY_SILENT_TOOL.name, args: '{}' });
        this.queue.put({ id, delta: { role: 'assistant', toolCalls: [call] } });
      } else {
        log.warn('no reply wanted, but the stay_silent tool is not offered: replying with nothing');
      }
      return;
    }
    const words = reply.text.match(/\S+\s*/g) ?? [];
    const signal = this.abortController.signal;
    for (const [i, word] of words.entries()) {
      try {
        await sleep(i === 0 ? firstTokenDelayMs : tokenIntervalMs, undefined, { signal });
      } catch {
        return; // closed: the framework stopped listening (interruption or shutdown)
      }
      this.queue.put({ id, delta: { role: 'assistant', content: word } });
    }
    // Words stand in for tokens: there is no tokenizer, and the counts only feed usage metrics.
    const promptTokens = this.chatCtx.items.reduce(
      (sum, item) => sum + (item.type === 'message' ? (item.textContent ?? '').split(/\s+/).length : 0),
      0,
    );
    this.queue.put({
      id,
      usage: { completionTokens: words.length, promptTokens, promptCachedTokens: 0, totalTokens: promptTokens + words.length },
    });
  }
}
