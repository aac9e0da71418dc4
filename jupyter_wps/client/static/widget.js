// jupyter-wps job widgets (anywidget front end): one job, or a dashboard of many.
//
// The kernel keeps the model current from the jobs' status documents. This
// module ticks elapsed times itself (no kernel traffic) and sends Cancel
// straight to the server's JSON API when this page is served by the job's
// server, so that Cancel works while the kernel is busy running a cell.

const FINAL = new Set(["successful", "failed", "dismissed"]);

function pageConfig() {
  const element = document.getElementById("jupyter-config-data");
  if (!element) return {};
  try {
    return JSON.parse(element.textContent);
  } catch {
    return {};
  }
}

// The API URL as this page can reach it: a path under the page's own base URL
// (the kernel may see the server as http://127.0.0.1:port/user/x/, the browser
// as https://hub/user/x/: the paths agree).
function reachable(url) {
  if (!url) return null;
  const base = pageConfig().baseUrl;
  if (!base) return null;
  let path;
  try {
    path = new URL(url).pathname;
  } catch {
    return null;
  }
  return path.startsWith(base) ? path : null;
}

function xsrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : null;
}

// DELETE the job through the JSON API; null when this page cannot reach it.
async function cancelOverHttp(apiUrl) {
  const path = reachable(apiUrl);
  if (!path) return null;
  const headers = { Accept: "application/json" };
  const xsrf = xsrfToken();
  if (xsrf) headers["X-XSRFToken"] = xsrf;
  const token = pageConfig().token;
  if (token) headers["Authorization"] = `token ${token}`;
  const reply = await fetch(path, { method: "DELETE", headers, credentials: "same-origin" });
  if (!reply.ok) {
    let detail = `HTTP ${reply.status}`;
    try {
      detail = (await reply.json()).detail || detail;
    } catch {}
    throw new Error(detail);
  }
  return reply.json();
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeHref(url) {
  try {
    const parsed = new URL(url, document.baseURI);
    return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

function elapsedText(job, now) {
  if (!job.created) return "";
  const start = Date.parse(job.created);
  const end = job.finished ? Date.parse(job.finished) : now;
  if (Number.isNaN(start) || Number.isNaN(end)) return "";
  let seconds = Math.max(0, Math.round((end - start) / 1000));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  seconds %= 60;
  const mm = hours ? String(minutes).padStart(2, "0") : String(minutes);
  return `${hours ? hours + ":" : ""}${mm}:${String(seconds).padStart(2, "0")}`;
}

// One job's display; `cancel(job)` is called by its Cancel button.
class JobView {
  constructor(cancel, tag = "div") {
    this.cancel = cancel;
    this.root = element(tag, "jwps-job");
    this.head = element("div", "jwps-head");
    this.processName = element("span", "jwps-process");
    this.jobId = element("code", "jwps-id");
    this.badge = element("span", "jwps-state");
    this.elapsed = element("span", "jwps-elapsed");
    this.button = element("button", "jwps-cancel", "Cancel");
    this.button.type = "button";
    this.button.title = "Dismiss the job: stops it, on the cluster too";
    this.button.addEventListener("click", () => this.onCancel());
    this.head.append(this.processName, this.jobId, this.badge, this.elapsed, this.button);
    this.bar = element("div", "jwps-bar");
    this.progress = element("progress", "jwps-progress");
    this.progress.max = 100;
    this.percent = element("span", "jwps-percent");
    this.bar.append(this.progress, this.percent);
    this.message = element("div", "jwps-message");
    this.error = element("div", "jwps-error");
    this.outputs = element("ul", "jwps-outputs");
    this.root.append(this.head, this.bar, this.message, this.error, this.outputs);
    this.cancelling = false;
    this.local = null; // the state the server answered a cancel with
    this.problem = "";
  }

  async onCancel() {
    if (this.cancelling || !this.job) return;
    this.cancelling = true;
    this.button.disabled = true;
    this.button.textContent = "Cancelling…";
    try {
      this.local = await this.cancel(this.job);
    } catch (error) {
      this.cancelling = false;
      this.problem = `Cancel failed: ${error.message}`;
    }
    this.update(this.job);
  }

  update(job) {
    this.job = job;
    // after a cancel, the server's answer counts until the kernel reports a final state
    const local = this.local && !FINAL.has(job.state) ? this.local : null;
    const state = local ? local.status : job.state;
    const percent = state === "successful" ? 100 : job.percent || 0;
    this.root.dataset.state = state;
    this.root.dataset.jobId = job.job_id;
    this.processName.textContent = job.process || "job";
    this.jobId.textContent = (job.job_id || "").slice(0, 8);
    this.jobId.title = job.job_id || "";
    this.badge.textContent = state;
    this.badge.className = `jwps-state jwps-state-${state}`;
    this.progress.value = percent;
    this.percent.textContent = `${percent}%`;
    this.message.textContent = (local ? local.message : job.message) || "";
    this.button.hidden = FINAL.has(state) || !job.job_id;
    if (!this.cancelling) {
      this.button.disabled = false;
      this.button.textContent = "Cancel";
    }
    this.error.textContent = job.error || this.problem || "";
    this.showOutputs(job.outputs || []);
    this.tick(Date.now());
  }

  tick(now) {
    if (this.job) this.elapsed.textContent = elapsedText(this.job, now);
  }

  showOutputs(outputs) {
    this.outputs.replaceChildren();
    for (const output of outputs) {
      const item = element("li", "jwps-output");
      item.append(element("span", "jwps-output-name", `${output.name}: `));
      const href = output.href ? safeHref(output.href) : null;
      if (href) {
        const link = element("a", "jwps-output-link", output.text || output.name);
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener";
        item.append(link);
        if (output.mime) item.append(element("span", "jwps-mime", ` (${output.mime})`));
        if (output.image) {
          const image = element("img", "jwps-preview");
          image.src = href;
          image.alt = output.name;
          item.append(image);
        }
      } else {
        item.append(element("code", "jwps-output-value", output.text || ""));
      }
      this.outputs.append(item);
    }
  }
}

// Cancel through the API when the page can reach it, else ask the kernel.
function canceller(model) {
  return async (job) => {
    const answer = await cancelOverHttp(job.api_url);
    if (answer) return { status: answer.status, message: answer.message };
    model.send({ action: "cancel", job: job.job_id });
    return { status: job.state, message: "cancel sent to the kernel" };
  };
}

const JOB_FIELDS = [
  "job_id", "process", "state", "percent", "message", "created", "finished",
  "error", "api_url", "status_url", "outputs",
];

function renderJob(model, el) {
  const view = new JobView(canceller(model));
  const notice = element("div", "jwps-notice");
  el.append(view.root, notice);
  const update = () => {
    const job = Object.fromEntries(JOB_FIELDS.map((name) => [name, model.get(name)]));
    view.update(job);
    notice.textContent = model.get("notice") || "";
  };
  update();
  for (const name of [...JOB_FIELDS, "notice"]) model.on(`change:${name}`, update);
  const timer = setInterval(() => view.tick(Date.now()), 1000);
  return () => clearInterval(timer);
}

function renderDashboard(model, el) {
  const root = element("div", "jwps-dashboard");
  const title = element("div", "jwps-title");
  const summary = element("div", "jwps-summary");
  const notice = element("div", "jwps-notice");
  const list = element("div", "jwps-rows");
  root.append(title, summary, notice, list);
  el.append(root);
  const views = new Map();
  const cancel = canceller(model);
  const update = () => {
    title.textContent = model.get("title") || "Jobs";
    notice.textContent = model.get("notice") || "";
    const jobs = model.get("jobs") || [];
    const counts = {};
    const seen = new Set();
    const rows = [];
    for (const job of jobs) {
      counts[job.state] = (counts[job.state] || 0) + 1;
      let view = views.get(job.job_id);
      if (!view) {
        view = new JobView(cancel);
        views.set(job.job_id, view);
      }
      view.update(job);
      seen.add(job.job_id);
      rows.push(view.root);
    }
    for (const id of [...views.keys()]) if (!seen.has(id)) views.delete(id);
    list.replaceChildren(...rows);
    const parts = Object.entries(counts).map(([state, n]) => `${n} ${state}`);
    summary.textContent = `${jobs.length} job${jobs.length === 1 ? "" : "s"}${parts.length ? ": " + parts.join(", ") : ""}`;
  };
  update();
  model.on("change:jobs", update);
  model.on("change:title", update);
  model.on("change:notice", update);
  const timer = setInterval(() => {
    const now = Date.now();
    for (const view of views.values()) view.tick(now);
  }, 1000);
  return () => clearInterval(timer);
}

function render({ model, el }) {
  el.classList.add("jwps");
  return model.get("kind") === "dashboard" ? renderDashboard(model, el) : renderJob(model, el);
}

export default { render };
