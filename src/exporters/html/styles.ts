/**
 * The report's stylesheet. Colors are CSS variables so the canvases read the same palette as the DOM, and one
 * prefers-color-scheme block switches everything to dark.
 */
import { OP_CATEGORIES } from '../../core/model/categories';

const catVars = (colors: string[]) => OP_CATEGORIES.map((c, i) => `--c-${c}:${colors[i]};`).join('');

// Category colors (in OP_CATEGORIES order), after Tableau 10: distinct hues that read on white and on near-black.
const LIGHT_CATS = ['#4e79a7', '#f28e2b', '#59a14f', '#76b7b2', '#edc948', '#9c755f'];
const DARK_CATS = ['#6b9bd1', '#f5a25d', '#79c26f', '#8fd0ca', '#f1d76a', '#c19a7f'];

export const STYLES = `
:root{color-scheme:light dark;--page:#f4f5f7;--bg:#ffffff;--panel:#ffffff;--fg:#1d2330;--muted:#5b6472;--grid:#e3e6eb;
--border:#d9dde3;--accent:#d6336c;--sel:#d6336c;--merged:#9aa3ae;--mem-line:#3b7fc4;--mem-fill:rgba(59,127,196,.22);
--k-eval:#8da0cb;--k-layer:#b07aa1;--k-primitive:#4e79a7;--k-sync:#e15759;--k-user:#ff9da7;--tip-bg:#1d2330;--tip-fg:#f4f5f7;
--warn:#b35c00;--row-sel:rgba(214,51,108,.13);--counter:#8a5cc2;--token:#4e79a7;${catVars(LIGHT_CATS)}}
@media (prefers-color-scheme:dark){:root{--page:#0e1014;--bg:#161a20;--panel:#161a20;--fg:#e6e9ef;--muted:#9aa4b2;--grid:#2a2f38;
--border:#2f3540;--accent:#ff6b9a;--sel:#ff6b9a;--merged:#6c7480;--mem-line:#6aaee8;--mem-fill:rgba(106,174,232,.22);
--k-eval:#7f8fb5;--k-layer:#c496bb;--k-primitive:#6b9bd1;--k-sync:#ff7b7d;--k-user:#ffb3bb;--tip-bg:#e6e9ef;--tip-fg:#161a20;
--warn:#ffb057;--row-sel:rgba(255,107,154,.16);--counter:#b99ae6;--token:#6b9bd1;${catVars(DARK_CATS)}}}
*{box-sizing:border-box}
html{background:var(--page);color:var(--fg)}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:inherit}
.skip{position:absolute;left:-9999px}.skip:focus{left:8px;top:8px;background:var(--panel);padding:4px 8px;z-index:20}
header.top{display:flex;flex-wrap:wrap;align-items:flex-end;justify-content:space-between;gap:8px 24px;padding:14px 20px 10px;
border-bottom:1px solid var(--border);background:var(--panel)}
header.top h1{font-size:19px;margin:0;overflow-wrap:anywhere}
header.top .sub{margin:2px 0 0;color:var(--muted);font-size:12px}
nav{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:13px}
nav a{text-decoration:none;color:var(--muted);padding:2px 0;border-bottom:2px solid transparent}
nav a:hover,nav a:focus-visible{color:var(--fg);border-bottom-color:var(--accent)}
main{max-width:1500px;margin:0 auto;padding:4px 16px 24px}
section{background:var(--panel);border:1px solid var(--border);border-radius:8px;padding:12px 16px 14px;margin:14px 0;min-width:0}
h2{font-size:15px;margin:0 0 6px}
h3{font-size:13px;margin:10px 0 6px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
.muted,.hint{color:var(--muted)}
.hint{font-size:12px;margin:0 0 8px}
.pair{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:0 14px}
@media (max-width:900px){.pair{grid-template-columns:minmax(0,1fr)}}
.canvas-wrap{position:relative;width:100%;min-width:0}
canvas{display:block;touch-action:none}
canvas:focus-visible,tr:focus-visible,button:focus-visible,li:focus-visible,input:focus-visible,select:focus-visible{outline:2px solid var(--sel);outline-offset:1px}
.tl-range{font-size:12px;margin:6px 0 0;font-variant-numeric:tabular-nums}
.tl-details{font-size:12px;margin-top:6px;min-height:1.4em}
.tl-details dl,#tip dl{display:grid;grid-template-columns:auto 1fr;gap:1px 10px;margin:4px 0 0}
.tl-details dl{grid-template-columns:repeat(auto-fill,minmax(90px,auto) minmax(160px,1fr))}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
#tip{position:fixed;display:none;z-index:30;pointer-events:none;max-width:min(380px,92vw);background:var(--tip-bg);color:var(--tip-fg);
padding:7px 9px;border-radius:6px;font-size:12px;box-shadow:0 4px 14px rgba(0,0,0,.25)}
#tip strong{display:block;overflow-wrap:anywhere}#tip dt{color:inherit;opacity:.7}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(172px,1fr));gap:8px}
.card{border:1px solid var(--border);border-radius:6px;padding:8px 10px;min-width:0}
.card-label{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.card-value{font-size:19px;font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.card-note{font-size:11.5px;color:var(--muted);overflow-wrap:anywhere}
.card.warn{border-color:var(--warn)}.card.warn .card-value{color:var(--warn)}
.summary-cols{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:0 24px}
@media (max-width:760px){.summary-cols{grid-template-columns:minmax(0,1fr)}}
.top-ops ol{margin:0;padding-left:22px}
.top-ops li{cursor:pointer;padding:2px 0}
.top-name{font-weight:600;overflow-wrap:anywhere;margin-right:8px}.top-val{color:var(--muted);font-size:12px;font-variant-numeric:tabular-nums}
.bar-track{display:block;height:5px;background:var(--grid);border-radius:3px;margin-top:2px}
.bar{display:block;height:100%;border-radius:3px;background:var(--merged)}
.findings ul{list-style:none;margin:0;padding:0}
.finding{border-left:3px solid var(--border);padding:2px 0 2px 10px;margin:0 0 8px}
.finding .sev{font-size:11px;text-transform:uppercase;font-weight:700;margin-right:8px}
.finding .rule{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;color:var(--muted);overflow-wrap:anywhere}
.finding p{margin:2px 0;overflow-wrap:anywhere}.finding .fix{color:var(--muted)}
.finding button.evidence{font:inherit;font-size:12px;color:inherit;background:var(--bg);border:1px solid var(--border);border-radius:5px;
padding:2px 8px;margin-top:2px;cursor:pointer}
.finding button.evidence:hover{border-color:var(--sel)}.finding button.evidence[aria-pressed=true]{background:var(--row-sel);border-color:var(--sel)}
.gen{margin-top:4px}.gen-chart{margin-top:8px}.gen-note{margin:4px 0 0}
.tl-details .lead{margin:0 0 2px}
.sev-high,.sev-error{border-left-color:#e15759}.sev-warning,.sev-warn,.sev-medium{border-left-color:var(--warn)}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(110px,auto) minmax(180px,1fr));gap:2px 12px;font-size:12px;margin:12px 0 0}
.rf-note{font-size:12px;color:var(--muted)}.rf-note p{margin:6px 0 0;overflow-wrap:anywhere}.rf-note p.warn{color:var(--warn)}
.donut{display:flex;flex-wrap:wrap;gap:12px;align-items:center}
.donut .canvas-wrap{width:240px;max-width:100%}
.legend{list-style:none;margin:0;padding:0;flex:1 1 180px;min-width:0}
.legend button{display:flex;width:100%;align-items:center;gap:6px;background:none;border:0;color:inherit;font:inherit;padding:3px 4px;
text-align:left;cursor:pointer;border-radius:4px}
.legend button:hover{background:var(--grid)}.legend button[aria-pressed=true]{background:var(--row-sel)}
.legend .zero{opacity:.5}.lg-label{flex:1}.lg-val{color:var(--muted);font-size:12px;font-variant-numeric:tabular-nums;white-space:nowrap}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;flex:none;background:var(--merged);margin-right:6px;vertical-align:-1px}
.legend .swatch{margin-right:2px}
${OP_CATEGORIES.map((c, i) => `[data-cat="${i}"].swatch,[data-cat="${i}"].bar{background:var(--c-${c})}`).join('\n')}
.toolbar{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:4px 0 6px;font-size:13px}
.toolbar label{display:flex;gap:6px;align-items:center}
input,select{font:inherit;color:inherit;background:var(--bg);border:1px solid var(--border);border-radius:5px;padding:4px 7px}
input[type=search]{width:min(320px,70vw)}input[aria-invalid=true]{border-color:#e15759}
#ops-status{font-size:12px;margin:0 0 6px}
.table-wrap{max-height:540px;overflow:auto;border:1px solid var(--border);border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:12.5px;font-variant-numeric:tabular-nums}
th{position:sticky;top:0;background:var(--panel);z-index:1;border-bottom:1px solid var(--border);padding:0;white-space:nowrap}
th button{all:unset;box-sizing:border-box;display:block;width:100%;padding:6px 8px;cursor:pointer;font-weight:600;text-align:left}
th.num button{text-align:right}
td{padding:4px 8px;border-bottom:1px solid var(--grid);white-space:nowrap}
td.num{text-align:right}
td.name{white-space:normal;min-width:160px;max-width:420px;overflow-wrap:anywhere}
td.name .detail{display:block;color:var(--muted);font-size:11.5px}
tbody tr{cursor:pointer}tbody tr:hover{background:var(--grid)}
tbody tr.selected{background:var(--row-sel)}
tfoot td{font-weight:600;border-bottom:0;position:sticky;bottom:0;background:var(--panel)}
#errors{max-width:1500px;margin:12px auto;padding:8px 16px;border:1px solid #e15759;border-radius:6px;background:var(--panel)}
footer{max-width:1500px;margin:0 auto;padding:0 16px 20px;color:var(--muted);font-size:12px}
`;
