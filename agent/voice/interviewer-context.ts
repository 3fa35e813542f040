// The interviewer's chat context beyond the turns the framework adds itself: the earlier runs'
// conversation to start from, one system message for the mode in force and one for the
// candidate's latest code. Each message is replaced on change, never added again, and never
// triggers a reply. Changes made before the agent exists are kept and applied when it starts.
// In CODING the interviewer also has the stay_silent tool: its way to let a turn pass unanswered.
import { llm, type voice } from '@livekit/agents';
import { logger } from '../../shared/logging.ts';
import type { Mode } from '../../shared/protocol.ts';
import type { PipelineContext } from '../pipeline.ts';
import { MODE_INSTRUCTIONS, STAY_SILENT_TOOL, codeMessage } from './interview-policy.ts';

const log = logger('session');

/** The earlier runs' conversation as the interviewer's context: it continues, it does not start over. */
export function earlierConversation(turns: PipelineContext['assignment']['conversation']): llm.ChatContext {
  const ctx = llm.ChatContext.empty();
  for (const turn of turns) {
    ctx.addMessage({ role: turn.role === 'agent' ? 'assistant' : 'user', content: turn.text, interrupted: turn.interrupted ?? false });
  }
  return ctx;
}

export class InterviewerContext {
  private agent: voice.Agent | undefined;
  private latestCode: { code: string; language: string | undefined } | undefined;
  private codeMessageId: string | undefined;
  /** The system message saying how to behave in the current mode (none until the first CODING). */
  private modeMessage: { id: string; mode: Mode } | undefined;

  /** Offered in CODING only: outside it, every turn gets a reply. */
  private readonly stayQuiet: llm.FunctionTool<Record<string, never>, unknown, undefined>;

  /** `stayedSilent`: the interviewer let a candidate turn pass without a reply. */
  constructor(
    private mode: Mode,
    stayedSilent: () => void,
  ) {
    this.stayQuiet = llm.tool({
      name: STAY_SILENT_TOOL.name,
      description: STAY_SILENT_TOOL.description,
      // Returning nothing: the framework generates no reply to the call.
      execute: async () => {
        log.info('interviewer stays silent');
        stayedSilent();
        return undefined;
      },
    });
  }

  /** The agent runs: what was set before it existed applies now, the code first, then the mode. */
  async attach(agent: voice.Agent): Promise<void> {
    this.agent = agent;
    if (this.latestCode) await this.updateCode(this.latestCode.code, this.latestCode.language);
    await this.tellMode();
  }

  async setMode(mode: Mode): Promise<void> {
    this.mode = mode;
    await this.tellMode();
  }

  /**
   * Tells the interviewer the mode, as one system message replaced on each change (no reply). The
   * initial CONVERSATIONAL mode needs no message; leaving CODING does.
   */
  private async tellMode(): Promise<void> {
    const mode = this.mode;
    if (!this.agent || this.modeMessage?.mode === mode || (!this.modeMessage && mode === 'CONVERSATIONAL')) return;
    // Leaving CODING also drops the tool's calls from the context (the framework keeps only calls of offered tools).
    await this.agent.updateTools(mode === 'CODING' ? [this.stayQuiet] : []);
    const ctx = this.agent.chatCtx.copy();
    if (this.modeMessage) ctx.items = ctx.items.filter((item) => item.id !== this.modeMessage!.id);
    const message = ctx.addMessage({ role: 'system', content: MODE_INSTRUCTIONS[mode] });
    this.modeMessage = { id: message.id, mode };
    await this.agent.updateChatCtx(ctx);
  }

  /**
   * The candidate's latest code as one system message (replacing the previous one), without
   * triggering a reply: the interviewer's next turn can refer to the code.
   */
  async updateCode(code: string, language: string | undefined): Promise<void> {
    this.latestCode = { code, language };
    if (!this.agent) return; // applied when the agent starts
    const ctx = this.agent.chatCtx.copy();
    if (this.codeMessageId) ctx.items = ctx.items.filter((item) => item.id !== this.codeMessageId);
    const message = ctx.addMessage({ role: 'system', content: codeMessage(code, language) });
    this.codeMessageId = message.id;
    await this.agent.updateChatCtx(ctx);
  }
}
