// jupyter-wps job widgets (anywidget front end): one job, or a dashboard of many.
//
// The kernel keeps the model current from the jobs' status documents. When this
// page is served by the jobs' server, this module also reads their progress from
// the server's JSON API itself and tells the kernel so ("polling"): the kernel
// then sends state changes only, and watching a job is no traffic on the kernel
// (which would count as user activity and keep an idle server from being culled).
// It ticks elapsed times itself, and sends Cancel straight to the JSON API, so
// that Cancel works while the kernel is busy running a cell.

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

function apiHeaders() {
  const headers = { Accept: "application/json" };
  const xsrf = xsrfToken();
  if (xsrf) headers["X-XSRFToken"] = xsrf;
  const token = pageConfig().token;
  if (token) headers["Authorization"] = `token ${token}`;
  return headers;
}

// GET `path` (JSON) now and again while onData(data) returns true: every `first` ms,
// backing off to `most` while nothing changes, waiting while the page is hidden.
// Returns a function that stops it.
function poll(path, onData, first = 1000, most = 5000) {
  let delay = first;
  let last = "";
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (document.visibilityState !== "hidden") {
      try {
        const reply = await fetch(path, { headers: apiHeaders(), credentials: "same-origin" });
        if (!reply.ok) throw new Error(`HTTP ${reply.status}`);
        const text = await reply.text();
        delay = text === last ? Math.min(delay * 1.5, most) : first;
        last = text;
        if (stopped || !onData(JSON.parse(text))) return;
      } catch {
        delay = Math.min(delay * 2, 30000);
      }
    }
    if (!stopped) timer = setTimeout(tick, delay);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// A job as the model has it, with what the server said since (JSON API fields).
function merged(job, data) {
  if (!data || FINAL.has(job.state)) return job;
  const percent = data.progress ?? job.percent;
  return {
    ...job,
    state: data.status || job.state,
    percent: data.status === job.state ? Math.max(percent, job.percent || 0) : percent,
    message: data.message ?? job.message,
    finished: data.finished || job.finished,
  };
}

// DELETE the job through the JSON API; null when this page cannot reach it.
async function cancelOverHttp(apiUrl) {
  const path = reachable(apiUrl);
  if (!path) return null;
  const headers = apiHeaders();
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
  const modelJob = () => Object.fromEntries(JOB_FIELDS.map((name) => [name, model.get(name)]));
  let polled = null; // the server's answer since the model last changed
  let stop = null;
  const update = () => {
    view.update(merged(modelJob(), polled));
    notice.textContent = model.get("notice") || "";
  };
  const follow = () => {
    const job = modelJob();
    if (FINAL.has(job.state)) {
      if (stop) stop();
      stop = null;
      return;
    }
    const path = reachable(job.api_url);
    if (stop || !path) return;
    model.send({ action: "polling" });
    stop = poll(path, (data) => {
      polled = data;
      update();
      if (FINAL.has(data.status)) stop = null;
      return stop !== null;
    });
  };
  const changed = () => {
    polled = null;
    update();
    follow();
  };
  update();
  follow();
  for (const name of [...JOB_FIELDS, "notice"]) model.on(`change:${name}`, changed);
  const timer = setInterval(() => view.tick(Date.now()), 1000);
  return () => {
    clearInterval(timer);
    if (stop) stop();
  };
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
  let polled = new Map(); // job id -> the server's answer (GET api/jobs)
  let stop = null;
  const rows = () => (model.get("jobs") || []).map((job) => merged(job, polled.get(job.job_id)));
  const update = () => {
    title.textContent = model.get("title") || "Jobs";
    notice.textContent = model.get("notice") || "";
    const jobs = rows();
    const counts = {};
    const seen = new Set();
    const shown = [];
    for (const job of jobs) {
      counts[job.state] = (counts[job.state] || 0) + 1;
      let view = views.get(job.job_id);
      if (!view) {
        view = new JobView(cancel);
        views.set(job.job_id, view);
      }
      view.update(job);
      seen.add(job.job_id);
      shown.push(view.root);
    }
    for (const id of [...views.keys()]) if (!seen.has(id)) views.delete(id);
    list.replaceChildren(...shown);
    const parts = Object.entries(counts).map(([state, n]) => `${n} ${state}`);
    summary.textContent = `${jobs.length} job${jobs.length === 1 ? "" : "s"}${parts.length ? ": " + parts.join(", ") : ""}`;
  };
  const unfinished = () => rows().some((job) => !FINAL.has(job.state));
  const follow = () => {
    const path = reachable(model.get("api_url"));
    if (stop || !path || !unfinished()) return;
    model.send({ action: "polling" });
    stop = poll(
      path,
      (data) => {
        polled = new Map((data.jobs || []).map((job) => [job.jobID, job]));
        update();
        if (!unfinished()) stop = null;
        return stop !== null;
      },
      2000,
      10000,
    );
  };
  const changed = () => {
    update();
    follow();
  };
  update();
  follow();
  for (const name of ["jobs", "title", "notice", "api_url"]) model.on(`change:${name}`, changed);
  const timer = setInterval(() => {
    const now = Date.now();
    for (const view of views.values()) view.tick(now);
  }, 1000);
  return () => {
    clearInterval(timer);
    if (stop) stop();
  };
}

function render({ model, el }) {
  el.classList.add("jwps");
  return model.get("kind") === "dashboard" ? renderDashboard(model, el) : renderJob(model, el);
}

export default { render };
