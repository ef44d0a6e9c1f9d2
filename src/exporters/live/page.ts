/**
 * The live page: the dashboard's views (the same markup, styles and client functions) under a bar
 * with the connection's state, Pause, and the two save links, and a running rate chart. The views out
 * of sight are neither laid out nor painted (content-visibility), though each refresh changes them. Its one
 * script is allowed by hash and may connect only to its own origin (the dashboard's policy plus
 * connect-src 'self' for /events).
 */
import { composeScript, documentHead, escapeHtml, scriptJson, VIEWS_MARKUP } from '../html/template';
import { VERSION } from '../../core/record/version';
import { formatCount } from '../../core/model/units';
import { clientMain } from '../html/client/main';
import { liveMain } from './client/main';
import { liveRate } from './client/rate';
import { liveStore } from './client/store';

const LIVE_STYLES = `
.live-bar{display:flex;flex-wrap:wrap;align-items:center;gap:8px 12px}
.live-bar button,.live-bar a{font:inherit;font-size:13px;padding:4px 10px;border:1px solid var(--border);border-radius:5px;background:var(--bg);color:var(--fg);text-decoration:none;cursor:pointer}
.live-bar button[aria-pressed=true]{border-color:var(--accent);color:var(--accent)}
.live-bar a[aria-disabled=true]{opacity:.5;pointer-events:none}
.live-status{font-size:13px;color:var(--muted)}
.live-status::before{content:"";display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:6px;background:var(--merged)}
.live-status[data-state=live]::before{background:#2f9e44}.live-status[data-state=paused]::before{background:var(--warn)}
.live-status[data-state=ended]::before{background:var(--accent)}
#live{max-width:1500px;margin:14px auto 0}.live-now{padding:0 16px}#live .rate-wrap{margin-top:10px}
#views main>section,#views main>.pair{content-visibility:auto;contain-intrinsic-size:auto 480px}
`;

let script: string | null = null;

/** The live page's script: liveMain over the dashboard's client functions. */
export function liveScript(): string {
  return (script ??= composeScript(liveMain, { clientMain, liveRate, liveStore }));
}

export function livePage(config: { name: string; windowSeconds: number; maxSpans: number; refreshMs: number; recording: string }): string {
  const js = liveScript();
  const title = escapeHtml(config.name);
  return `${documentHead({ title: `${config.name} · mlx-trace live`, script: js, version: VERSION, connect: true, styles: LIVE_STYLES })}
<body>
<header class="top">
<div><h1>${title}</h1><p class="sub">mlx-trace live · the last ${config.windowSeconds} s or ${formatCount(config.maxSpans)} spans, whichever is shorter, refreshed every ${config.refreshMs} ms${config.recording ? ` · ${escapeHtml(config.recording)}` : ''}</p></div>
<div class="live-bar" role="toolbar" aria-label="Live view">
<span id="live-status" class="live-status" data-state="connecting" role="status" aria-live="polite">connecting…</span>
<button id="live-pause" type="button" aria-pressed="false">Pause</button>
<a id="live-save-trace" href="save.mlxtrace" download>Save .mlxtrace</a>
<a id="live-save-html" href="save.html" download>Save dashboard HTML</a>
</div>
</header>
<div id="errors" role="alert" hidden></div>
<div class="live-now"><section id="live" aria-labelledby="h-live">
<h2 id="h-live">Now</h2>
<div class="cards"></div>
<div class="rate-wrap canvas-wrap"><canvas id="live-rate" role="img" aria-label="Rate over the window"></canvas></div>
</section></div>
<div id="views">
${VIEWS_MARKUP}</div>
<script type="application/json" id="mlx-live-config">${scriptJson(config)}</script>
<script>${js}</script>
</body>
</html>
`;
}
