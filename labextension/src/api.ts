/**
 * The JSON API of jupyter-wps (`<baseUrl>wps/api/`), through ServerConnection:
 * it adds the token or the XSRF cookie and the base URL, as for any Jupyter API call.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** A link of a process or a job (OGC API - Processes). */
export interface ILink {
  href: string;
  rel: string;
  type?: string;
  title?: string;
}

/** A process summary from `GET wps/api/processes`. */
export interface IProcess {
  id: string;
  title?: string;
  description?: string;
  version?: string;
  links?: ILink[];
  /** Present for processes published from a kernel. */
  published?: { owner?: string; time?: string; python?: string; dill?: string };
}

export type JobStatus =
  | 'accepted'
  | 'running'
  | 'successful'
  | 'failed'
  | 'dismissed';

/** A job from `GET wps/api/jobs` (statusInfo of OGC API - Processes). */
export interface IJob {
  jobID: string;
  processID: string;
  status: JobStatus | string;
  message?: string | null;
  progress?: number | null;
  created?: string | null;
  started?: string | null;
  finished?: string | null;
  updated?: string | null;
  links?: ILink[];
}

export const FINAL_STATES: ReadonlySet<string> = new Set([
  'successful',
  'failed',
  'dismissed'
]);

/** An answer that was not what the panel asked for, with a message to show. */
export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number = 0
  ) {
    super(message);
  }
}

/** Calls the WPS JSON API of the server JupyterLab talks to. */
export class WPSClient {
  constructor(
    readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  async processes(): Promise<IProcess[]> {
    const data = await this._request('processes');
    return Array.isArray(data?.processes) ? data.processes : [];
  }

  async jobs(): Promise<IJob[]> {
    const data = await this._request('jobs');
    return Array.isArray(data?.jobs) ? data.jobs : [];
  }

  /** Dismiss a job: the server stops it (the batch job too) and records it as dismissed. */
  async dismiss(jobID: string): Promise<IJob> {
    return this._request(`jobs/${encodeURIComponent(jobID)}`, {
      method: 'DELETE'
    });
  }

  private async _request(path: string, init: RequestInit = {}): Promise<any> {
    const url = URLExt.join(this.settings.baseUrl, 'wps', 'api', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new APIError(`The Jupyter server cannot be reached: ${error}`);
    }
    if (response.ok) {
      try {
        return await response.json();
      } catch {
        throw new APIError(
          'The server answered with something other than JSON: is jupyter-wps enabled on it?',
          response.status
        );
      }
    }
    throw new APIError(await describeFailure(response), response.status);
  }
}

async function describeFailure(response: Response): Promise<string> {
  let detail = '';
  let isJSON = false;
  try {
    const data = await response.json();
    isJSON = true;
    detail = String(data?.detail || data?.message || data?.title || '');
  } catch {
    // not JSON: the server has no WPS API (a 404 page) or a proxy answered
  }
  switch (response.status) {
    case 401:
    case 403:
      return `Not allowed (${response.status}): log in to Jupyter again${
        detail ? ` (${detail})` : ''
      }.`;
    case 404:
      return isJSON
        ? `Not found: ${detail}`
        : 'This Jupyter server has no WPS API: is the jupyter_wps server extension enabled?';
    default:
      return `The server answered ${response.status} ${response.statusText}${
        detail ? `: ${detail}` : ''
      }`;
  }
}
