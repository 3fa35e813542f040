// The interviewer's turns as the central server received them, as a table: per reply to the
// candidate, where its time went (latency_ms: the three sequential stages add up to the total;
// transcription runs during end_of_turn), and which turns answered nothing (greeting, check-in).
import { REPLY_LATENCY_STAGES } from '../shared/protocol.ts';
import type { TranscriptRecord } from './central-server.ts';

export function latencyTable(transcripts: readonly TranscriptRecord[]): string[] {
  const columns = ['turn', ...REPLY_LATENCY_STAGES.map((stage) => `${stage} ms`)];
  const rows = transcripts
    .filter((t) => t.role === 'agent')
    .map((t) => [
      `#${t.sequence} ${t.latency_ms ? 'reply' : (t.turn ?? '-')}`,
      ...REPLY_LATENCY_STAGES.map((stage) => (t.latency_ms ? String(t.latency_ms[stage]) : '')),
    ]);
  const widths = columns.map((column, i) => Math.max(column.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(columns), ...rows.map(line)];
}
