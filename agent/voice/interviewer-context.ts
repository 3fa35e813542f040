// The interviewer's chat context beyond the turns the framework adds itself: the earlier runs'
// conversation to start from, one system message for the mode in force and one for the
// candidate's latest code. Each message is replaced on change, never added again, and never
// triggers a reply. Changes made before the agent exists are kept and applied when it starts.
import { llm, type voice } from '@livekit/agents';
import type { Mode } from '../../shared/protocol.ts';
import type { PipelineContext } from '../pipeline.ts';
import { MODE_INSTRUCTIONS } from './interview-policy.ts';

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

  constructor(private mode: Mode) {}

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
    const message = ctx.addMessage({
      role: 'system',
      content: `The candidate's current code${language ? ` (${language})` : ''} in their editor:\n${code}`,
    });
    this.codeMessageId = message.id;
    await this.agent.updateChatCtx(ctx);
  }
}
