/**
 * The sidebar's controller against a real HTTP server on 127.0.0.1 (Node's http module) that
 * answers the routes the model calls, through the real ModelFilesClient and ServerConnection.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo } from 'net';

import { ServerConnection } from '@jupyterlab/services';

import { ModelFilesClient } from '../client';
import { DEFAULT_PURPOSE, NOTICE_MS, purposesFrom, SidebarModel } from '../model';

type Route = (req: IncomingMessage, res: ServerResponse) => void;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

const SERVED_PURPOSES = { object: 'list', data: ['batch', 'user_data', 'ocr'], default: 'user_data' };

describe('purposesFrom', () => {
  it('takes the served list and its default', () => {
    expect(purposesFrom(SERVED_PURPOSES)).toEqual({
      purposes: ['batch', 'user_data', 'ocr'],
      defaultPurpose: 'user_data'
    });
  });

  it('falls back to the first purpose when the default is not listed', () => {
    expect(purposesFrom({ data: ['batch', 'ocr'], default: 'vision' })?.defaultPurpose).toBe('batch');
  });

  it('refuses malformed answers', () => {
    expect(purposesFrom(null)).toBeNull();
    expect(purposesFrom({ data: 'batch' })).toBeNull();
    expect(purposesFrom({ data: [1, ''] })).toBeNull();
  });
});

describe('SidebarModel', () => {
  let server: Server;
  let routes: Record<string, Route>;
  let seen: string[];
  let client: ModelFilesClient;

  beforeEach(async () => {
    seen = [];
    routes = {};
    server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      // ServerConnection adds a cache-busting timestamp to the query: leave it out.
      seen.push(`${req.method} ${(req.url ?? '').replace(/[?&]\d+$/, '')}`);
      const route = routes[`${req.method} ${path}`];
      if (route) {
        route(req, res);
      } else {
        json(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${path}` } });
      }
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new ModelFilesClient(
      ServerConnection.makeSettings({
        baseUrl: `http://127.0.0.1:${port}/`,
        wsUrl: `ws://127.0.0.1:${port}/`,
        token: 'secret',
        appendToken: false
      })
    );
  });

  afterEach(async () => {
    await new Promise<void>(resolve => server.close(() => resolve()));
  });

  it('starts with the default purpose and then shows the purposes the server serves', async () => {
    routes['GET /modelfiles/v1/files/purposes'] = (_req, res) => json(res, 200, SERVED_PURPOSES);
    const model = new SidebarModel(client);
    expect(model.state.purposes).toEqual([DEFAULT_PURPOSE]);
    let changes = 0;
    model.changed.connect(() => (changes += 1));
    await model.loadPurposes();
    expect(model.state.purposes).toEqual(['batch', 'user_data', 'ocr']);
    expect(model.state.defaultPurpose).toBe('user_data');
    expect(changes).toBeGreaterThan(0);
    expect(seen).toContain('GET /modelfiles/v1/files/purposes');
  });

  it('reports an API the server does not have as a plain sentence', async () => {
    const model = new SidebarModel(client);
    await model.searchModels('llama');
    expect(model.state.modelsLoading).toBe(false);
    expect(model.state.errors.models).toContain('no route /modelfiles/v1/models');
    expect(seen).toEqual(['GET /modelfiles/v1/models?search=llama']);
  });

  it('lists models and refreshes one when its download ends', async () => {
    let downloaded = false;
    routes['GET /modelfiles/v1/models'] = (_req, res) =>
      json(res, 200, { iterable: [{ id: 'org/tiny', name: 'tiny', downloaded }] });
    routes['GET /modelfiles/v1/models/org%2Ftiny'] = (_req, res) =>
      json(res, 200, { id: 'org/tiny', name: 'tiny', downloaded });
    const model = new SidebarModel(client);
    await model.searchModels('');
    expect(model.state.models.map(m => m.id)).toEqual(['org/tiny']);
    expect(model.state.errors.models).toBeUndefined();

    downloaded = true;
    model.handleEvent(
      JSON.stringify({
        topic: 'job',
        key: 'job_1',
        time: 0,
        data: { status: 'completed', model_id: 'org/tiny', downloaded_bytes: 5, total_size_bytes: 5 }
      })
    );
    expect(model.state.jobs.completed.map(j => j.job_id)).toEqual(['job_1']);
    await new Promise(resolve => setTimeout(resolve, 200));
    expect(seen).toContain('GET /modelfiles/v1/models/org%2Ftiny');
    expect(model.state.models[0].downloaded).toBe(true);
  });

  it('starts a URL download as a job and a catalog id as a model download', async () => {
    routes['POST /modelfiles/v1/downloads'] = (_req, res) =>
      json(res, 202, { job_id: 'job_2', status: 'queued', downloaded_bytes: 0, total_size_bytes: 0 });
    routes['POST /modelfiles/v1/models/org%2Ftiny/download'] = (_req, res) =>
      json(res, 200, { id: 'org/tiny', downloading: true, jobs: [{ job_id: 'job_3', status: 'downloading' }] });
    const model = new SidebarModel(client);
    expect(await model.startDownload('  ')).toBe(false);
    expect(await model.startDownload('http://127.0.0.1:1/f.bin')).toBe(true);
    expect(model.state.jobs.queued.map(j => j.job_id)).toEqual(['job_2']);
    expect(await model.startDownload('org/tiny')).toBe(true);
    expect(model.state.jobs.downloading.map(j => j.job_id)).toEqual(['job_3']);
    expect(model.state.notice).toBe('Downloading org/tiny');
    expect(seen).toEqual(['POST /modelfiles/v1/downloads', 'POST /modelfiles/v1/models/org%2Ftiny/download']);
    model.dispose(); // the notice's timer
  });

  it('shows a notice for a while, then drops it by itself', async () => {
    expect(NOTICE_MS).toBeGreaterThan(0);
    const model = new SidebarModel(client);
    model.notify('Downloading org/tiny', 50);
    expect(model.state.notice).toBe('Downloading org/tiny');
    await new Promise(resolve => setTimeout(resolve, 150));
    expect(model.state.notice).toBe('');
    // a newer notice replaces the old one and gets its own full time
    model.notify('first', 80);
    await new Promise(resolve => setTimeout(resolve, 50));
    model.notify('second', 80);
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(model.state.notice).toBe('second');
    model.notify('stays', 0);
    await new Promise(resolve => setTimeout(resolve, 100));
    expect(model.state.notice).toBe('stays');
    model.dismissNotice();
    expect(model.state.notice).toBe('');
  });

  it("puts a failed load on the model's own row in plain words, and a later load clears it", async () => {
    let broken = true;
    routes['POST /modelfiles/v1/models/org%2Ftiny/load'] = (_req, res) =>
      broken
        ? json(res, 422, {
            error: { code: 'LOAD_FAILED', message: "loading 'org/tiny' (gguf) failed: ValueError: bad GGUF magic" }
          })
        : json(res, 200, { id: 'org/tiny', name: 'tiny', loaded: true, loaded_rss_bytes: 1024 });
    const model = new SidebarModel(client);
    await model.modelAction('org/tiny', 'load');
    expect(model.state.loadErrors['org/tiny']).toBe(
      'not a valid GGUF file: the download may be damaged; delete it and download again'
    );
    expect(model.state.errors.models).toBeUndefined(); // not at the top of the section
    expect(model.state.busy['load:org/tiny']).toBeUndefined();

    broken = false;
    await model.modelAction('org/tiny', 'load');
    expect(model.state.loadErrors['org/tiny']).toBeUndefined();
    expect(seen).toEqual(['POST /modelfiles/v1/models/org%2Ftiny/load', 'POST /modelfiles/v1/models/org%2Ftiny/load']);
  });

  it('clears finished jobs on the server and drops them from the list', async () => {
    routes['POST /modelfiles/v1/downloads/clear'] = (_req, res) =>
      json(res, 200, { object: 'list', cleared: ['job_done', 'job_gone'] });
    const model = new SidebarModel(client);
    for (const [jobId, status] of [
      ['job_done', 'completed'],
      ['job_gone', 'cancelled'],
      ['job_live', 'downloading']
    ]) {
      model.handleEvent(JSON.stringify({ topic: 'job', key: jobId, time: 0, data: { job_id: jobId, status } }));
    }
    expect(model.state.jobs.cancelled.map(j => j.job_id)).toEqual(['job_gone']);
    await model.clearFinished();
    expect(model.state.jobs.completed).toEqual([]);
    expect(model.state.jobs.cancelled).toEqual([]);
    expect(model.state.jobs.downloading.map(j => j.job_id)).toEqual(['job_live']);
    expect(seen).toEqual(['POST /modelfiles/v1/downloads/clear']);
  });

  it('ignores a slower, older search answer', async () => {
    routes['GET /modelfiles/v1/models'] = (req, res) => {
      const slow = (req.url ?? '').includes('search=old');
      setTimeout(() => json(res, 200, { iterable: [{ id: slow ? 'old' : 'new', name: 'x' }] }), slow ? 150 : 0);
    };
    const model = new SidebarModel(client);
    await Promise.all([model.searchModels('old'), model.searchModels('new')]);
    expect(model.state.models.map(m => m.id)).toEqual(['new']);
    expect(model.state.modelSearch).toBe('new');
  });
});
