// Checks run inside the real ComfyUI frontend by tests/test_harness.py (through the harness's comfy_browser.js
// --eval). Evaluating this file defines window.psr2; each later --eval calls one scenario and returns plain JSON.
// Every path goes through the frontend's own code: the template endpoint + loadGraphData (template browser, file
// open), widget callbacks (a UI change), the change tracker's undo, the canvas clipboard, queuePrompt, userdata.
(() => {
  const PACK = "paragonsr2";
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const tracker = () => app.extensionManager.workflow.activeWorkflow.changeTracker;

  async function template(name) {
    const res = await fetch(`/api/workflow_templates/${PACK}/${name}.json`);
    if (!res.ok) throw new Error(`template ${name}: HTTP ${res.status}`);
    return res.json();
  }
  async function open(workflow, name) {
    await app.loadGraphData(workflow, true, true, name);
    await sleep(300);
  }
  const first = (type) => app.graph._nodes.find((n) => n.type === type);
  const hidden = (node, name) => !!node.widgets.find((w) => w.name === name).hidden;
  function set(node, name, value) {
    const w = node.widgets.find((x) => x.name === name);
    w.value = value;
    w.callback?.(value, app.canvas, node);
  }
  function waitFor(predicate, ms, what) {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const poll = () => {
        if (predicate()) return resolve(true);
        if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
        setTimeout(poll, 250);
      };
      poll();
    });
  }
  function runDone(ms) {
    return new Promise((resolve, reject) => {
      const done = (ok) => () => { clearTimeout(timer); resolve(ok); };
      const timer = setTimeout(() => reject(new Error("prompt did not finish")), ms);
      app.api.addEventListener("execution_success", done(true), { once: true });
      app.api.addEventListener("execution_error", done(false), { once: true });
    });
  }
  const loaderState = (n) => ({ scale: n.widgets.find((w) => w.name === "scale").value,
    scale_value_hidden: hidden(n, "scale_value"), alpha_value_hidden: hidden(n, "alpha_value"),
    facts: n.__psr2Lines || null, height: n.size[1] });

  window.psr2 = {
    // Session 1: open a template, change widgets in the UI, run, undo, paste, save to the user's workflows.
    async edit() {
      const out = {};
      const upscale = await template("ParagonSR2_upscale");
      await open(upscale, "ParagonSR2_upscale");
      out.template_default = loaderState(first("ParagonSR2Loader"));
      const custom = structuredClone(upscale);
      const saved = custom.nodes.find((n) => n.type === "ParagonSR2Loader");
      saved.widgets_values[1] = "custom";
      saved.widgets_values[2] = 3;
      await open(custom, "ParagonSR2_upscale_custom");
      out.opened_custom = loaderState(first("ParagonSR2Loader"));
      set(first("ParagonSR2Loader"), "upsampler_alpha", "custom");
      out.ui_alpha_custom = loaderState(first("ParagonSR2Loader"));
      const finished = runDone(240000);
      await app.queuePrompt(0, 1);
      out.run_ok = await finished;
      await waitFor(() => first("ParagonSR2Loader").__psr2Lines, 10000, "the loader's facts");
      out.after_run = loaderState(first("ParagonSR2Loader"));
      tracker().checkState();
      set(first("ParagonSR2Loader"), "scale", "auto");
      tracker().checkState();
      out.before_undo = loaderState(first("ParagonSR2Loader"));
      await tracker().undo();
      await sleep(300);
      out.after_undo = loaderState(first("ParagonSR2Loader"));
      const loader = first("ParagonSR2Loader");
      app.canvas.copyToClipboard([loader]);
      app.canvas.pasteFromClipboard({});
      await sleep(300);
      const loaders = app.graph._nodes.filter((n) => n.type === "ParagonSR2Loader");
      out.pasted = loaders.length === 2 ? loaderState(loaders.at(-1)) : null;
      app.graph.remove(loaders.at(-1));
      await app.api.storeUserData("workflows/psr2_saved.json", JSON.stringify(app.graph.serialize()),
        { overwrite: true, stringify: false });
      const exporter = await template("ParagonSR2_export");
      exporter.nodes.find((n) => n.type === "ParagonSR2Export").widgets_values[0] = "int8";
      await open(exporter, "ParagonSR2_export_int8");
      out.export_int8_hidden = hidden(first("ParagonSR2Export"), "calibration_folder");
      set(first("ParagonSR2Export"), "precision", "fp32");
      out.export_fp32_hidden = hidden(first("ParagonSR2Export"), "calibration_folder");
      set(first("ParagonSR2Export"), "precision", "int8");
      await app.api.storeUserData("workflows/psr2_saved_export.json", JSON.stringify(app.graph.serialize()),
        { overwrite: true, stringify: false });
      return out;
    },

    // Session 2 (a new browser: the page reloaded): open the saved workflows; re-run (served from the cache).
    async reopen() {
      const out = {};
      const read = async (file) => (await app.api.getUserData(file)).json();
      await open(await read("workflows/psr2_saved.json"), "psr2_saved");
      out.reopened = loaderState(first("ParagonSR2Loader"));
      const finished = runDone(240000);
      await app.queuePrompt(0, 1);
      out.rerun_ok = await finished;
      await sleep(500);
      out.after_cached_run = loaderState(first("ParagonSR2Loader"));
      await open(await read("workflows/psr2_saved_export.json"), "psr2_saved_export");
      out.export_reopened_hidden = hidden(first("ParagonSR2Export"), "calibration_folder");
      return out;
    },

    // Every example as the template browser opens it, after the previews load and with the most text (and a
    // loss curve) the extension ever adds: pairs of nodes whose drawn boxes (badge above the title) overlap.
    async overlaps(badge = 24) {
      const core = await import(`/extensions/${PACK}/paragonsr2_core.js`);
      const names = (await (await fetch("/api/workflow_templates")).json())[PACK];
      const result = {};
      for (const name of names) {
        await open(await template(name), name);
        await sleep(2500);
        for (const n of app.graph._nodes) {
          if (core.TEXT_NODES.has(n.type)) core.showOutput(n, { text: [Array(40).fill("x".repeat(70)).join("\n")] });
          if (n.type === "ParagonSR2Train") [1, 2].forEach((step) => core.addLoss(n, { step, total: 2, loss: 1 / step }));
        }
        const boxes = app.graph._nodes.map((n) => {
          const [x, y, w, h] = n.getBounding();
          return [`${n.id}:${n.type}`, x, y - badge, x + w, y + h];
        });
        result[name] = [];
        boxes.forEach(([a, ax0, ay0, ax1, ay1], i) => boxes.slice(i + 1).forEach(([b, bx0, by0, bx1, by1]) => {
          if (ax0 < bx1 && bx0 < ax1 && ay0 < by1 && by0 < ay1) result[name].push(`${a} overlaps ${b}`);
        }));
      }
      return result;
    },
  };
  return "psr2 checks ready";
})()
