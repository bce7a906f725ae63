"""The page's style sheet: compact (it is inlined in every page), and the firing token's highlight, whose
background alpha is the context's activation / max activation (--a, set per token)."""

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;
 padding:0 16px 40px;color:#222}
h1{font-size:1.5em;margin-bottom:.3em}h2{font-size:1.2em;margin:28px 0 6px}h3{font-size:1em;margin:14px 0 4px}
h4{font-size:.9em;margin:8px 0 2px;color:#555}
section.feature{border-top:2px solid #ddd;padding:4px 0 8px 12px;border-left:4px solid transparent}
section.feature.s-weak{border-left-color:#f5b301}
q{font-weight:600}.nolabel{color:#888;font-style:italic}
.status{display:inline-block;padding:0 6px;border-radius:4px;font-size:.78em;vertical-align:middle;
 background:#e3f3e6;color:#1e6b34}
.status.s-weak{background:#fde68a;color:#7a4b00;font-weight:700}
.status.s-dead,.status.s-too-rare,.status.s-too-few-examples{background:#eee;color:#555}
.note{padding:6px 10px;border-radius:4px;background:#f2f2f2;margin:6px 0}
.note.weak{background:#fff7d6;border:1px solid #f0cf62}
.problems{background:#fdecea;border:1px solid #f3b1aa;padding:6px 10px;border-radius:4px}
.meta{color:#555;font-size:.9em;margin:4px 0}.na{color:#888;font-style:italic}.up{font-size:.7em;margin-left:8px}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee;vertical-align:top}
table.run th{font-weight:normal;color:#555}
table.summary{width:100%;font-size:.92em}
table.summary thead th{cursor:pointer;user-select:none;position:sticky;top:0;background:#f6f6f6}
table.summary th[aria-sort=ascending]::after{content:" \\25B2"}
table.summary th[aria-sort=descending]::after{content:" \\25BC"}
table.summary tr.s-weak td{background:#fffaea}
.cols{display:flex;gap:32px;flex-wrap:wrap}
ol.contexts{font:12.5px/1.6 ui-monospace,Menlo,Consolas,monospace;padding-left:0;list-style:none;margin:4px 0}
ol.contexts li{white-space:pre-wrap;word-break:break-word;border-bottom:1px dotted #eee}
ol.contexts>li>span:first-child{display:inline-block;min-width:4.5em;color:#777;margin-right:8px;text-align:right}
mark{background:rgba(255,140,0,var(--a));outline:1px solid #e07b00;border-radius:2px;color:inherit;padding:0 1px}
.plots{display:flex;flex-wrap:wrap;gap:16px}.plot-box{margin:0;flex:1 1 440px;min-width:340px}
.plot{height:300px}figcaption,.caption{font-size:12px;color:#555}
nav.pages a{margin-right:10px}nav.pages .here{font-weight:700;margin-right:10px}
"""
