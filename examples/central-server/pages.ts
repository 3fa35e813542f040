// The reference server's own pages, plain HTML with no script: an index to start an interview and
// find recent ones, and a view of one session (its transcript, events, summary and recording).
import { escapeHtml as e } from './http.ts';
import type { InterviewRow } from './store.ts';
import type { InterviewReport } from './main.ts';

const STYLE = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1d1d1f; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f6; } .muted { color: #777; } .agent { color: #0a58ca; } .incomplete { opacity: .55; }
code, pre { font: 13px/1.4 ui-monospace, monospace; } pre { white-space: pre-wrap; margin: 0; }
form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: end; } label { display: flex; flex-direction: column; }
`;

function layout(title: string, body: string, refreshS?: number): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${refreshS ? `<meta http-equiv="refresh" content="${refreshS}">` : ''}<title>${e(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>`;
}

export function indexPage(interviews: InterviewRow[]): string {
  const rows = interviews
    .map(
      (i) => `<tr><td><a href="/sessions/${encodeURIComponent(i.session_id)}/view"><code>${e(i.session_id)}</code></a></td>
<td>${e(i.candidate_name ?? '')}</td><td>${e(i.role ?? '')}</td><td class="muted">${e(i.created_at)}</td>
<td>${i.room_id ? `<a href="/interview/${encodeURIComponent(i.session_id)}">candidate page</a>` : '<span class="muted">started elsewhere</span>'}</td></tr>`,
    )
    .join('\n');
  return layout(
    'Reference central server',
    `<h1>Reference central server</h1>
<p class="muted">Starts interviews on the voice interviewer runtime through Redis and receives their transcripts.</p>
<h2>Start an interview</h2>
<form method="post" action="/api/interviews">
<label>Candidate name <input name="candidate_name" maxlength="200"></label>
<label>Role <input name="role" maxlength="200" placeholder="backend engineer"></label>
<button type="submit">Start and open the candidate page</button>
</form>
<h2>Recent interviews</h2>
${rows ? `<table><tr><th>session</th><th>candidate</th><th>role</th><th>created</th><th></th></tr>${rows}</table>` : '<p class="muted">None yet.</p>'}`,
  );
}

export function sessionPage(report: InterviewReport): string {
  const { session, transcripts, events, summary, recording } = report;
  const ended = events.some((ev) => ev.event === 'SESSION_ENDED');
  const transcriptRows = transcripts
    .map((t) => {
      const notes = [t.interrupted ? 'interrupted' : '', typeof t.turn === 'string' ? t.turn : '', t.incomplete ? 'incomplete run' : '']
        .filter(Boolean)
        .join(', ');
      const latency = (t.latency_ms as { total?: number } | undefined)?.total;
      return `<tr class="${t.incomplete ? 'incomplete' : ''}"><td>${e(t.sequence)}</td><td class="${t.role === 'agent' ? 'agent' : ''}">${e(t.role)}</td>
<td>${e(t.text)}</td><td class="muted">${e(String(t.start_time ?? '').slice(11, 23))}</td><td>${e(t.vad_mode)}</td>
<td class="muted">${e(notes)}${latency !== undefined ? ` ${Math.round(latency)} ms` : ''}</td></tr>`;
    })
    .join('\n');
  const eventRows = events
    .map((ev) => `<tr><td class="muted">${e(ev.at)}</td><td>${e(ev.event)}</td><td><code>${e(JSON.stringify(ev.data))}</code></td></tr>`)
    .join('\n');
  const marks = session.marks.map((m) => `${e(m.reason)} (${e(m.received_at)})`).join(', ');
  return layout(
    `Interview ${session.session_id}`,
    `<p><a href="/">← all interviews</a></p>
<h1>Interview <code>${e(session.session_id)}</code></h1>
<p>${session.candidate_name ? `Candidate: <strong>${e(session.candidate_name)}</strong>. ` : ''}${session.role ? `Role: ${e(session.role)}. ` : ''}
Room: <code>${e(session.room_id ?? 'unknown')}</code>. Created ${e(session.created_at)}.${session.stopped_at ? ` Stop requested ${e(session.stopped_at)}.` : ''}
${marks ? `<br>Runs started (mark-incomplete): ${marks}.` : ''} ${ended ? '' : '<span class="muted">(refreshes every 5 s until the session ends)</span>'}</p>
<h2>Transcript</h2>
${transcriptRows ? `<table><tr><th>#</th><th>who</th><th>text</th><th>at (UTC)</th><th>mode</th><th></th></tr>${transcriptRows}</table>` : '<p class="muted">Nothing yet.</p>'}
${summary ? `<h2>Summary</h2><pre>${e(JSON.stringify(summary, null, 2))}</pre>` : ''}
${recording ? `<h2>Recording</h2><p><audio controls src="${e(recording.url)}"></audio> <span class="muted">${recording.bytes} bytes</span></p>` : ''}
<h2>Events</h2>
${eventRows ? `<table><tr><th>at</th><th>event</th><th>data</th></tr>${eventRows}</table>` : '<p class="muted">None yet.</p>'}`,
    ended ? undefined : 5,
  );
}
