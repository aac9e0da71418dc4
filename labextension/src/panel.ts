/**
 * The WPS panel: the server's processes, and its jobs with their progress.
 *
 * Plain DOM; every string from the server goes in as text (textContent), never as HTML.
 * Polling: only while the panel and the page are visible; every 2 s while some job is
 * unfinished, backing off to 10 s while nothing changes, and every 15 s when all jobs are
 * final (to notice new ones). Elapsed times tick locally.
 */
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { APIError, FINAL_STATES, IJob, IProcess, WPSClient } from './api';

/** Polling intervals (ms): the first after a change, and the longest. */
export const POLL_MIN = 2000;
export const POLL_MAX = 10000;
/** With no unfinished job: how often to look for new ones (ms). */
export const POLL_IDLE = 15000;

const STATUS_LABELS: Record<string, string> = {
  accepted: 'queued',
  running: 'running',
  successful: 'succeeded',
  failed: 'failed',
  dismissed: 'dismissed'
};

/** An element with classes and (as text, never HTML) content. */
function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A link's href if it is http(s), else null (no javascript: or data: links from data). */
export function safeHref(href: unknown): string | null {
  if (typeof href !== 'string' || !href) {
    return null;
  }
  try {
    const url = new URL(href, window.location.href);
    return url.protocol === 'http:' || url.protocol === 'https:'
      ? url.href
      : null;
  } catch {
    return null;
  }
}

function parseTime(value: string | null | undefined): number | null {
  if (!value) {
    return null;
  }
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : time;
}

/** "42 s", "3 min 05 s", "2 h 01 min". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) {
    return `${seconds} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${String(seconds % 60).padStart(2, '0')} s`;
  }
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`;
}

function percentOf(job: IJob, previous: number): number {
  if (job.status === 'successful') {
    return 100;
  }
  const value = Number(job.progress ?? NaN);
  if (!Number.isFinite(value)) {
    return previous;
  }
  if (FINAL_STATES.has(job.status) && value <= 0) {
    return previous; // a dismissed or failed job keeps the progress it had
  }
  return Math.min(100, Math.max(0, Math.round(value)));
}

function linkOf(job: IJob, rel: string): string | null {
  const link = (job.links || []).find(l => l && l.rel === rel);
  return link ? safeHref(link.href) : null;
}

/** One job's row, updated in place on every poll (its Cancel button stays put). */
class JobRow {
  readonly node = el('li', 'jp-wps-job');
  private _process = el('span', 'jp-wps-job-process');
  private _badge = el('span', 'jp-wps-job-status');
  private _progress = el('progress', 'jp-wps-job-progress');
  private _percent = el('span', 'jp-wps-job-percent');
  private _message = el('div', 'jp-wps-job-message');
  private _error = el('div', 'jp-wps-job-error');
  private _elapsed = el('span', 'jp-wps-job-elapsed');
  private _cancel = el('button', 'jp-wps-job-cancel jp-mod-styled', 'Cancel');
  private _statusLink = el('a', 'jp-wps-job-status-link', 'status');
  private _resultsLink = el('a', 'jp-wps-job-results-link', 'results');
  private _id = el('span', 'jp-wps-job-id');
  job: IJob;

  constructor(
    job: IJob,
    onCancel: (row: JobRow) => void
  ) {
    this.job = job;
    this.node.dataset.jobId = job.jobID;
    const header = el('div', 'jp-wps-job-header');
    header.append(this._process, this._badge);
    const bar = el('div', 'jp-wps-job-bar');
    this._progress.max = 100;
    bar.append(this._progress, this._percent);
    const footer = el('div', 'jp-wps-job-footer');
    for (const link of [this._statusLink, this._resultsLink]) {
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
    }
    this._cancel.type = 'button';
    this._cancel.title = 'Dismiss the job: stops it (the batch job too)';
    this._cancel.addEventListener('click', () => onCancel(this));
    footer.append(
      this._elapsed,
      this._statusLink,
      this._resultsLink,
      this._cancel
    );
    this._id.textContent = job.jobID;
    this.node.append(
      header,
      bar,
      this._message,
      this._error,
      footer,
      this._id
    );
    this.update(job);
  }

  get finished(): boolean {
    return FINAL_STATES.has(this.job.status);
  }

  update(job: IJob): void {
    this.job = job;
    const status = String(job.status || 'unknown');
    this.node.dataset.status = status;
    this._process.textContent = job.processID || '?';
    this._badge.textContent = STATUS_LABELS[status] || status;
    this._badge.className = `jp-wps-job-status jp-wps-status-${status.replace(
      /[^a-z]/gi,
      ''
    )}`;
    const percent = percentOf(job, this._progress.value || 0);
    this._progress.value = percent;
    this._progress.textContent = `${percent} %`;
    this._progress.title = `${percent} %`;
    this._percent.textContent = `${percent} %`;
    const failed = status === 'failed';
    this._message.textContent = failed ? '' : job.message || '';
    this._message.hidden = failed || !job.message;
    this._error.textContent = failed ? job.message || 'The job failed' : '';
    this._error.hidden = !failed;
    const statusHref = linkOf(job, 'status');
    this._statusLink.hidden = !statusHref;
    if (statusHref) {
      this._statusLink.href = statusHref;
    }
    const resultsHref = status === 'successful' ? linkOf(job, 'results') : null;
    this._resultsLink.hidden = !resultsHref;
    if (resultsHref) {
      this._resultsLink.href = resultsHref;
    }
    this._cancel.hidden = this.finished;
    this.tick(Date.now());
  }

  /** The elapsed time, from the job's own times: no request. */
  tick(now: number): void {
    const job = this.job;
    const created = parseTime(job.created);
    const started = parseTime(job.started);
    const finished = parseTime(job.finished);
    const since = started ?? created;
    if (since === null) {
      this._elapsed.textContent = '';
      return;
    }
    if (this.finished) {
      const end = finished ?? parseTime(job.updated);
      this._elapsed.textContent =
        end === null ? '' : `took ${formatDuration(end - since)}`;
    } else {
      const label = job.status === 'accepted' ? 'queued' : 'running';
      this._elapsed.textContent = `${label} ${formatDuration(now - since)}`;
    }
  }

  setCancelling(cancelling: boolean): void {
    this._cancel.disabled = cancelling;
    this._cancel.textContent = cancelling ? 'Cancelling…' : 'Cancel';
  }
}

/** The left-sidebar panel. */
export class WPSPanel extends Widget {
  constructor(readonly client: WPSClient) {
    super();
    this.addClass('jp-wps-panel');
    this.title.caption = 'WPS processes and jobs';

    const toolbar = el('div', 'jp-wps-toolbar');
    const heading = el('span', 'jp-wps-heading', 'Web Processing Service');
    this._refreshButton.type = 'button';
    this._refreshButton.title = 'Refresh processes and jobs';
    this._refreshButton.setAttribute('aria-label', 'Refresh');
    this._refreshButton.addEventListener('click', () => void this.refresh());
    toolbar.append(heading, this._refreshButton);

    this._error.hidden = true;
    this._error.setAttribute('role', 'alert');

    const processes = el('section', 'jp-wps-section');
    processes.append(
      el('h3', 'jp-wps-section-title', 'Processes'),
      this._processesEmpty,
      this._processList
    );
    const jobs = el('section', 'jp-wps-section');
    jobs.append(
      el('h3', 'jp-wps-section-title', 'Jobs'),
      this._jobsEmpty,
      this._jobList
    );
    this.node.append(toolbar, this._error, processes, jobs);
    document.addEventListener('visibilitychange', this._onVisibility);
  }

  /** How many job-list requests the panel has made (for tests and debugging). */
  get pollCount(): number {
    return this._pollCount;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    document.removeEventListener('visibilitychange', this._onVisibility);
    this._stopTimers();
    super.dispose();
  }

  /** Reload processes and jobs now, and poll again from the shortest interval. */
  async refresh(): Promise<void> {
    this._interval = POLL_MIN;
    await Promise.all([this._loadProcesses(), this._poll(true)]);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._wake();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._wake();
    }
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._stopTimers();
  }

  protected onBeforeDetach(msg: Message): void {
    this._stopTimers();
    super.onBeforeDetach(msg);
  }

  /** The panel is on screen: shown in its sidebar, and the page is visible. */
  private get _active(): boolean {
    return (
      !this.isDisposed &&
      this.isVisible &&
      document.visibilityState !== 'hidden'
    );
  }

  private _onVisibility = (): void => {
    if (document.visibilityState === 'hidden') {
      this._stopTimers();
    } else if (this.isVisible) {
      this._wake();
    }
  };

  private _wake(): void {
    if (!this._processesLoaded) {
      void this._loadProcesses();
    }
    this._interval = POLL_MIN;
    void this._poll(false);
  }

  private _stopTimers(): void {
    if (this._timer !== undefined) {
      window.clearTimeout(this._timer);
      this._timer = undefined;
    }
    if (this._clock !== undefined) {
      window.clearInterval(this._clock);
      this._clock = undefined;
    }
  }

  private _schedule(): void {
    if (this._timer !== undefined) {
      window.clearTimeout(this._timer);
      this._timer = undefined;
    }
    const unfinished = [...this._rows.values()].some(row => !row.finished);
    if (this._active) {
      this._timer = window.setTimeout(
        () => {
          this._timer = undefined;
          void this._poll(false);
        },
        unfinished ? this._interval : POLL_IDLE
      );
    }
    if (unfinished && this._active) {
      if (this._clock === undefined) {
        this._clock = window.setInterval(() => this._tick(), 1000);
      }
    } else if (this._clock !== undefined) {
      window.clearInterval(this._clock);
      this._clock = undefined;
    }
  }

  private _tick(): void {
    if (!this._active) {
      return;
    }
    const now = Date.now();
    for (const row of this._rows.values()) {
      if (!row.finished) {
        row.tick(now);
      }
    }
  }

  /** One request for the job list, then the next one scheduled (or none). */
  private async _poll(force: boolean): Promise<void> {
    if (!force && !this._active) {
      return;
    }
    if (this._polling) {
      await this._polling;
      if (!force) {
        return;
      }
    }
    this._polling = this._pollOnce();
    try {
      await this._polling;
    } finally {
      this._polling = null;
    }
    this._schedule();
  }

  private async _pollOnce(): Promise<void> {
    this._pollCount++;
    try {
      const jobs = await this.client.jobs();
      this._setError(this._processError);
      const signature = JSON.stringify(jobs);
      if (signature === this._lastSignature) {
        this._interval = Math.min(POLL_MAX, this._interval * 2);
      } else {
        this._interval = POLL_MIN;
        this._lastSignature = signature;
        this._renderJobs(jobs);
      }
    } catch (error) {
      this._interval = POLL_MAX;
      this._setError(messageOf(error));
    }
  }

  private async _loadProcesses(): Promise<void> {
    try {
      const processes = await this.client.processes();
      this._processesLoaded = true;
      this._processError = '';
      this._renderProcesses(processes);
      this._setError('');
    } catch (error) {
      this._processError = messageOf(error);
      this._setError(this._processError);
    }
  }

  private _setError(message: string): void {
    this._error.textContent = message;
    this._error.hidden = !message;
  }

  private _renderProcesses(processes: IProcess[]): void {
    this._processList.replaceChildren(
      ...processes.map(process => {
        const item = el('li', 'jp-wps-process');
        item.dataset.processId = String(process.id);
        const title = el('div', 'jp-wps-process-header');
        title.append(el('code', 'jp-wps-process-id', String(process.id)));
        if (process.title && process.title !== process.id) {
          title.append(el('span', 'jp-wps-process-title', process.title));
        }
        if (process.published) {
          item.classList.add('jp-wps-mod-published');
          const owner = process.published.owner;
          const badge = el('span', 'jp-wps-published-badge', 'published');
          badge.title = owner
            ? `Published from a notebook by ${owner}`
            : 'Published from a notebook';
          title.append(badge);
        }
        item.append(title);
        if (process.description) {
          item.append(
            el('div', 'jp-wps-process-description', process.description)
          );
        }
        return item;
      })
    );
    this._processesEmpty.hidden = processes.length > 0;
  }

  private _renderJobs(jobs: IJob[]): void {
    const seen = new Set<string>();
    const nodes: HTMLElement[] = [];
    for (const job of jobs) {
      if (!job || typeof job.jobID !== 'string') {
        continue;
      }
      seen.add(job.jobID);
      let row = this._rows.get(job.jobID);
      if (row) {
        row.update(job);
      } else {
        row = new JobRow(job, r => void this._cancel(r));
        this._rows.set(job.jobID, row);
      }
      nodes.push(row.node);
    }
    for (const [id, row] of this._rows) {
      if (!seen.has(id)) {
        row.node.remove();
        this._rows.delete(id);
      }
    }
    // in the server's order (newest first); moving a node keeps its listeners
    nodes.forEach((node, index) => {
      if (this._jobList.children[index] !== node) {
        this._jobList.insertBefore(
          node,
          this._jobList.children[index] || null
        );
      }
    });
    this._jobsEmpty.hidden = nodes.length > 0;
  }

  private async _cancel(row: JobRow): Promise<void> {
    row.setCancelling(true);
    try {
      const job = await this.client.dismiss(row.job.jobID);
      if (job && job.jobID === row.job.jobID && job.processID) {
        row.update(job);
      }
    } catch (error) {
      this._setError(`Cancelling the job failed: ${messageOf(error)}`);
    } finally {
      row.setCancelling(false);
    }
    this._interval = POLL_MIN;
    await this._poll(true);
  }

  private _rows = new Map<string, JobRow>();
  private _refreshButton = el('button', 'jp-wps-refresh jp-mod-styled', '⟳');
  private _error = el('div', 'jp-wps-error');
  private _processList = el('ul', 'jp-wps-processes');
  private _processesEmpty = el('div', 'jp-wps-empty', 'No processes');
  private _jobList = el('ul', 'jp-wps-jobs');
  private _jobsEmpty = el('div', 'jp-wps-empty', 'No jobs yet');
  private _timer: number | undefined;
  private _clock: number | undefined;
  private _interval = POLL_MIN;
  private _polling: Promise<void> | null = null;
  private _pollCount = 0;
  private _lastSignature = '';
  private _processesLoaded = false;
  private _processError = '';
}

function messageOf(error: unknown): string {
  if (error instanceof APIError) {
    return error.message;
  }
  return `Unexpected error: ${error}`;
}
