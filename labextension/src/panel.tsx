/**
 * The sidebar view: a compact status and quick-action panel (fits 250 px) with three
 * collapsible sections (Models, Downloads, Files) rendered from the SidebarModel; the wide
 * table lives in the main-area "Model files" view. Native <details>/<button>/<input>
 * elements keep it keyboard accessible.
 */
import { Clipboard, Dialog, showDialog } from '@jupyterlab/apputils';
import { checkIcon, launchIcon, ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { checksumWords } from './advice';
import {
  ErrorLine,
  FileState,
  Notice,
  ProgressBar,
  SearchForm,
  ProgressText,
  Spinner,
  useModelState,
  useNow
} from './components';
import { formatBytes, formatTimestamp, fraction } from './format';
import { SidebarModel, SidebarState } from './model';
import {
  FileRun,
  finishedJobs,
  isChecksumMismatch,
  JOB_GROUPS,
  jobCount,
  jobLabel,
  latestRuns,
  Model,
  pageCount
} from './state';

// -- models --------------------------------------------------------------------------------

/** A model's state in a few words: downloaded / downloading / loaded (with its memory). */
export function ModelBadges({ model, state }: { model: Model; state: SidebarState }): JSX.Element {
  // this page's own load, or one started elsewhere (a notebook, another tab): the server's event
  const loading = !!state.busy[`load:${model.id}`] || (model.loading === true && !model.loaded);
  const unloading = !!state.busy[`unload:${model.id}`];
  const rss = typeof model.loaded_rss_bytes === 'number' ? model.loaded_rss_bytes : 0;
  return (
    <span className="jp-ModelFiles-badges">
      {model.downloaded ? (
        <span className="jp-ModelFiles-badge jp-ModelFiles-ok jp-ModelFiles-done">
          <checkIcon.react tag="span" elementSize="small" />
          downloaded
        </span>
      ) : null}
      {model.downloading ? <span className="jp-ModelFiles-badge">downloading</span> : null}
      {loading ? <Spinner label={`Loading ${model.name || model.id}`} /> : null}
      {unloading ? <Spinner label={`Unloading ${model.name || model.id}`} /> : null}
      {model.loaded && !loading ? (
        <span className="jp-ModelFiles-badge jp-ModelFiles-ok" title="memory of its worker process">
          loaded{rss ? ` · ${formatBytes(rss)}` : ''}
        </span>
      ) : null}
    </span>
  );
}

export function ModelActions({
  model,
  state,
  sidebar
}: {
  model: Model;
  state: SidebarState;
  sidebar: SidebarModel;
}): JSX.Element {
  const busy = !!state.busy[`model:${model.id}`];
  const title = model.name || model.id;
  return (
    <span className="jp-ModelFiles-actions">
      {model.downloading ? (
        <button
          disabled={busy}
          aria-label={`Cancel download of ${title}`}
          onClick={() => void sidebar.cancelModelDownload(model.id)}
        >
          Cancel
        </button>
      ) : (
        <button disabled={busy} aria-label={`Download ${title}`} onClick={() => void sidebar.downloadModel(model.id)}>
          Download
        </button>
      )}
      {model.loaded ? (
        <button
          disabled={busy}
          aria-label={`Unload ${title}`}
          onClick={() => void sidebar.modelAction(model.id, 'unload')}
        >
          Unload
        </button>
      ) : (
        <button
          disabled={busy || !model.downloaded}
          aria-label={`Load ${title}`}
          onClick={() => void sidebar.modelAction(model.id, 'load')}
        >
          {state.busy[`load:${model.id}`] ? 'Loading…' : 'Load'}
        </button>
      )}
    </span>
  );
}

function ModelRow({
  model,
  state,
  sidebar,
  now
}: {
  model: Model;
  state: SidebarState;
  sidebar: SidebarModel;
  now: number;
}): JSX.Element {
  const expanded = state.expanded[model.id];
  const title = model.name || model.id;
  const meta = [model.quantization, model.bytes?.value ? formatBytes(model.bytes.value) : '', model.format]
    .filter(Boolean)
    .join(' · ');
  return (
    <li className="jp-ModelFiles-model" data-model-id={model.id}>
      <div className="jp-ModelFiles-row">
        <button
          className="jp-ModelFiles-expand"
          aria-expanded={!!expanded}
          aria-label={`${expanded ? 'Collapse' : 'Expand'} ${title}`}
          onClick={() => void sidebar.toggleModel(model.id)}
        >
          {expanded ? '▾' : '▸'}
        </button>
        <span className="jp-ModelFiles-name" title={title === model.id ? title : `${title} (${model.id})`}>
          {title}
        </span>
      </div>
      <div className="jp-ModelFiles-metaline">
        {meta ? <span className="jp-ModelFiles-meta jp-ModelFiles-muted">{meta}</span> : null}
        <ModelBadges model={model} state={state} />
      </div>
      <ModelActions model={model} state={state} sidebar={sidebar} />
      <ErrorLine message={state.loadErrors[model.id]} />
      {expanded ? (
        <div className="jp-ModelFiles-modelfiles">
          {expanded.loading && !expanded.files.length ? <div className="jp-ModelFiles-muted">Loading…</div> : null}
          <ErrorLine message={expanded.error} />
          {expanded.files.length ? (
            <ul className="jp-ModelFiles-list jp-ModelFiles-files" aria-label={`Files of ${title}`}>
              {expanded.files.map(file => (
                <li key={file.id} className="jp-ModelFiles-modelfile" data-file-id={file.id}>
                  <div className="jp-ModelFiles-name" title={file.name}>
                    {file.name}
                  </div>
                  <div className="jp-ModelFiles-meta jp-ModelFiles-muted">
                    {[
                      file.quantization && file.quantization !== 'unknown' ? file.quantization : '',
                      formatBytes(file.sizeBytes),
                      file.maxRamUsage ? `RAM ${formatBytes(file.maxRamUsage)}` : ''
                    ]
                      .filter(Boolean)
                      .join(' · ')}
                  </div>
                  <FileState model={model} file={file} state={state} sidebar={sidebar} now={now} compact />
                </li>
              ))}
            </ul>
          ) : !expanded.loading && !expanded.error ? (
            <div className="jp-ModelFiles-muted">No files listed.</div>
          ) : null}
        </div>
      ) : null}
    </li>
  );
}

function ModelsSection({ state, sidebar }: { state: SidebarState; sidebar: SidebarModel }): JSX.Element {
  const now = useNow(state.jobs.downloading.length > 0);
  return (
    <details className="jp-ModelFiles-section" open data-section="models">
      <summary>Models</summary>
      <SearchForm
        label="Search models"
        placeholder="Search models"
        active={state.modelSearch}
        onSearch={text => void sidebar.searchModels(text)}
      >
        <button type="submit">Search</button>
      </SearchForm>
      <ErrorLine message={state.errors.models} />
      {state.modelsLoading && !state.models.length ? <div className="jp-ModelFiles-muted">Loading…</div> : null}
      {!state.modelsLoading && !state.models.length && !state.errors.models ? (
        <div className="jp-ModelFiles-muted">No models.</div>
      ) : null}
      <ul className="jp-ModelFiles-list" aria-label="Models">
        {state.models.map(model => (
          <ModelRow key={model.id} model={model} state={state} sidebar={sidebar} now={now} />
        ))}
      </ul>
    </details>
  );
}

// -- downloads -----------------------------------------------------------------------------

function JobRow({
  run,
  state,
  sidebar,
  now
}: {
  run: FileRun;
  state: SidebarState;
  sidebar: SidebarModel;
  now: number;
}): JSX.Element {
  const { job, earlier } = run;
  const [showEarlier, setShowEarlier] = React.useState(false);
  const label = jobLabel(job);
  const value = job.status === 'completed' ? 1 : fraction(job.downloaded_bytes, job.total_size_bytes);
  const busy = !!state.busy[`job:${job.job_id}`];
  const downloading = job.status === 'downloading' || job.status === 'verifying';
  const mismatch = isChecksumMismatch(job);
  const canPause = downloading || job.status === 'queued';
  const canResume = job.status === 'paused' || (job.status === 'failed' && !mismatch);
  const canCancel = !['completed', 'cancelled'].includes(job.status);
  return (
    <li className="jp-ModelFiles-job" data-job-id={job.job_id} data-status={job.status}>
      <div className="jp-ModelFiles-row">
        <span className="jp-ModelFiles-name" title={job.url || job.model_id || job.job_id}>
          {label}
        </span>
        <span className="jp-ModelFiles-muted jp-ModelFiles-status">{job.status}</span>
      </div>
      <ProgressBar value={value} label={`Progress of ${label}`} />
      <ProgressText
        done={job.downloaded_bytes ?? 0}
        total={job.total_size_bytes}
        speed={job.bytes_per_second ?? 0}
        eta={job.estimated_completion}
        status={downloading ? 'downloading' : job.status}
        now={now}
        showStatus={false}
      />
      {mismatch ? (
        <div className="jp-ModelFiles-error" role="alert">
          {checksumWords(!!job.model_id)}
        </div>
      ) : job.error ? (
        <ErrorLine message={job.error} />
      ) : null}
      <div className="jp-ModelFiles-actions">
        {canPause ? (
          <button
            disabled={busy}
            aria-label={`Pause ${label}`}
            onClick={() => void sidebar.jobAction(job.job_id, 'pause')}
          >
            Pause
          </button>
        ) : null}
        {canResume ? (
          <button
            disabled={busy}
            aria-label={`Resume ${label}`}
            onClick={() => void sidebar.jobAction(job.job_id, 'resume')}
          >
            {job.status === 'failed' ? 'Retry' : 'Resume'}
          </button>
        ) : null}
        {mismatch && job.model_id ? (
          <button
            aria-label={`Re-read the catalog for ${label}`}
            onClick={() => void sidebar.rereadCatalog(job.model_id as string)}
          >
            Re-read catalog
          </button>
        ) : null}
        {canCancel ? (
          <button
            disabled={busy}
            aria-label={`Cancel ${label}`}
            onClick={() => void sidebar.jobAction(job.job_id, 'cancel')}
          >
            Cancel
          </button>
        ) : null}
        {earlier.length ? (
          <button
            className="jp-ModelFiles-link"
            aria-expanded={showEarlier}
            onClick={() => setShowEarlier(!showEarlier)}
          >
            {showEarlier ? 'Hide' : 'Show'} {earlier.length} earlier {earlier.length === 1 ? 'run' : 'runs'}
          </button>
        ) : null}
      </div>
      {showEarlier ? (
        <ul className="jp-ModelFiles-list jp-ModelFiles-earlier" aria-label={`Earlier runs of ${label}`}>
          {earlier.map(run => (
            <li key={run.job_id} data-job-id={run.job_id} data-status={run.status} className="jp-ModelFiles-muted">
              {run.status} · {formatBytes(run.downloaded_bytes ?? 0)}
              {run.completed_at ? ` · ${run.completed_at.replace('T', ' ').slice(0, 16)}` : ''}
              {run.error ? ` · ${run.error}` : ''}
            </li>
          ))}
        </ul>
      ) : null}
    </li>
  );
}

function DownloadsSection({ state, sidebar }: { state: SidebarState; sidebar: SidebarModel }): JSX.Element {
  const [url, setUrl] = React.useState('');
  const [sha, setSha] = React.useState('');
  const now = useNow(state.jobs.downloading.length > 0);
  const rows = latestRuns(state.jobs);
  const shown = JOB_GROUPS.reduce((sum, group) => sum + rows[group].length, 0);
  const finished = finishedJobs(state.jobs).length;
  return (
    <details className="jp-ModelFiles-section" open data-section="downloads">
      <summary>Downloads ({shown})</summary>
      <form
        className="jp-ModelFiles-toolbar jp-ModelFiles-urlform"
        onSubmit={ev => {
          ev.preventDefault();
          void sidebar.startDownload(url, sha).then(ok => {
            if (ok) {
              setUrl('');
              setSha('');
            }
          });
        }}
      >
        <input
          type="url"
          className="jp-ModelFiles-input"
          placeholder="https://… file URL"
          aria-label="Download URL"
          value={url}
          onChange={ev => setUrl(ev.target.value)}
          required
        />
        <input
          type="text"
          className="jp-ModelFiles-input"
          placeholder="SHA-256 (optional)"
          aria-label="Expected SHA-256 (optional)"
          pattern="[0-9a-fA-F]{64}"
          value={sha}
          onChange={ev => setSha(ev.target.value)}
        />
        <button type="submit" disabled={!!state.busy['download-url']}>
          Download
        </button>
      </form>
      <ErrorLine message={state.errors.downloads} />
      {finished ? (
        <div className="jp-ModelFiles-toolbar">
          <button
            disabled={!!state.busy['clear-finished']}
            aria-label="Clear finished downloads"
            onClick={() => void sidebar.clearFinished()}
          >
            Clear finished ({finished})
          </button>
        </div>
      ) : null}
      {JOB_GROUPS.map(group =>
        rows[group].length ? (
          <div key={group} className="jp-ModelFiles-group" data-group={group}>
            <h4 className="jp-ModelFiles-grouptitle">
              {group} ({rows[group].length})
            </h4>
            <ul className="jp-ModelFiles-list" aria-label={`${group} downloads`}>
              {rows[group].map(run => (
                <JobRow key={run.job.job_id} run={run} state={state} sidebar={sidebar} now={now} />
              ))}
            </ul>
          </div>
        ) : null
      )}
      {jobCount(state.jobs) === 0 && !state.errors.downloads ? (
        <div className="jp-ModelFiles-muted">No downloads.</div>
      ) : null}
    </details>
  );
}

// -- files ---------------------------------------------------------------------------------

async function confirmDelete(name: string): Promise<boolean> {
  const result = await showDialog({
    title: 'Delete file',
    body: `Delete “${name}”? This cannot be undone.`,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
  });
  return result.button.accept;
}

function FilesSection({ state, sidebar }: { state: SidebarState; sidebar: SidebarModel }): JSX.Element {
  const [purpose, setPurpose] = React.useState(state.defaultPurpose);
  const [dragging, setDragging] = React.useState(false);
  const input = React.useRef<HTMLInputElement>(null);
  const files = state.files;
  const pages = pageCount(files);

  const onDrop = (ev: React.DragEvent): void => {
    ev.preventDefault();
    ev.stopPropagation();
    setDragging(false);
    const dropped = Array.from(ev.dataTransfer.files);
    if (dropped.length) {
      void sidebar.uploadFiles(dropped, purpose);
    }
  };

  return (
    <details className="jp-ModelFiles-section" open data-section="files">
      <summary>Files ({files.total})</summary>
      <div
        className={'jp-ModelFiles-dropzone' + (dragging ? ' jp-ModelFiles-dragging' : '')}
        aria-label="Drop files here to upload"
        onDragEnter={ev => {
          ev.preventDefault();
          ev.stopPropagation();
          setDragging(true);
        }}
        onDragOver={ev => {
          ev.preventDefault();
          ev.stopPropagation();
          ev.dataTransfer.dropEffect = 'copy';
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <div className="jp-ModelFiles-toolbar">
          <select aria-label="Purpose of uploaded files" value={purpose} onChange={ev => setPurpose(ev.target.value)}>
            {state.purposes.map(p => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
          <button onClick={() => input.current?.click()} aria-label="Upload files">
            Upload…
          </button>
          <input
            ref={input}
            type="file"
            multiple
            hidden
            className="jp-ModelFiles-fileinput"
            onChange={ev => {
              const chosen = Array.from(ev.target.files ?? []);
              ev.target.value = '';
              if (chosen.length) {
                void sidebar.uploadFiles(chosen, purpose);
              }
            }}
          />
        </div>
        <div className="jp-ModelFiles-muted">or drop files here</div>
        {state.uploads.length ? (
          <ul className="jp-ModelFiles-list" aria-label="Uploads">
            {state.uploads.map(item => (
              <li key={item.key} className="jp-ModelFiles-upload" data-status={item.status}>
                <div className="jp-ModelFiles-row jp-ModelFiles-nowrap">
                  <span className="jp-ModelFiles-name" title={item.name}>
                    {item.name}
                  </span>
                  <span className="jp-ModelFiles-muted jp-ModelFiles-status">
                    {item.status === 'uploading'
                      ? `${formatBytes(item.loaded)} / ${formatBytes(item.total)}`
                      : item.status}
                  </span>
                  {item.abort ? (
                    <button
                      className="jp-ModelFiles-iconbutton"
                      aria-label={`Cancel upload of ${item.name}`}
                      title="Cancel upload"
                      onClick={item.abort}
                    >
                      ✕
                    </button>
                  ) : null}
                </div>
                {item.status === 'uploading' ? (
                  <ProgressBar value={fraction(item.loaded, item.total)} label={`Upload of ${item.name}`} />
                ) : null}
                <ErrorLine message={item.status === 'error' ? item.error : undefined} />
              </li>
            ))}
          </ul>
        ) : null}
        {state.uploads.some(item => item.status !== 'uploading') ? (
          <button className="jp-ModelFiles-link" onClick={() => sidebar.dismissUploads()}>
            Clear finished uploads
          </button>
        ) : null}
      </div>
      <SearchForm
        label="Search files"
        placeholder="Search files"
        active={files.search}
        onSearch={text => void sidebar.loadFiles({ search: text })}
      >
        <select
          aria-label="Filter by purpose"
          value={files.purpose}
          onChange={ev => void sidebar.loadFiles({ purpose: ev.target.value })}
        >
          <option value="">all purposes</option>
          {state.purposes.map(p => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </SearchForm>
      <ErrorLine message={state.errors.files} />
      <ul className="jp-ModelFiles-list" aria-label="Files">
        {files.items.map(file => {
          const busy = !!state.busy[`file:${file.id}`];
          return (
            <li key={file.id} className="jp-ModelFiles-file" data-file-id={file.id}>
              <div className="jp-ModelFiles-row">
                <span className="jp-ModelFiles-name" title={file.filename}>
                  {file.filename}
                </span>
                <span className="jp-ModelFiles-muted">{formatBytes(file.bytes)}</span>
              </div>
              <div className="jp-ModelFiles-row jp-ModelFiles-muted">
                <span>{file.purpose}</span>
                <span>{formatTimestamp(file.created_at)}</span>
              </div>
              <div className="jp-ModelFiles-actions">
                <a
                  className="jp-ModelFiles-button"
                  href={sidebar.contentUrl(file.id)}
                  download={file.filename}
                  aria-label={`Download ${file.filename}`}
                >
                  Download
                </a>
                <button
                  aria-label={`Copy signed URL of ${file.filename}`}
                  onClick={() =>
                    void sidebar.signedUrl(file.id).then(
                      url => {
                        Clipboard.copyToSystem(url);
                        sidebar.setNotice(`Signed URL of ${file.filename} copied (valid 24 h)`);
                      },
                      err => sidebar.setNotice((err as Error).message)
                    )
                  }
                >
                  Copy URL
                </button>
                <button
                  disabled={busy}
                  aria-label={`Delete ${file.filename}`}
                  onClick={() =>
                    void confirmDelete(file.filename).then(ok => (ok ? sidebar.deleteFile(file.id) : undefined))
                  }
                >
                  Delete
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      {!files.items.length && !state.errors.files ? <div className="jp-ModelFiles-muted">No files.</div> : null}
      {pages > 1 || files.page > 0 ? (
        <nav className="jp-ModelFiles-pager" aria-label="Files pages">
          <button
            disabled={files.page <= 0}
            aria-label="Previous page"
            onClick={() => void sidebar.loadFiles({ page: files.page - 1 })}
          >
            ‹
          </button>
          <span>
            {files.page + 1} / {pages}
          </span>
          <button
            disabled={!files.hasMore && files.page + 1 >= pages}
            aria-label="Next page"
            onClick={() => void sidebar.loadFiles({ page: files.page + 1 })}
          >
            ›
          </button>
        </nav>
      ) : null}
    </details>
  );
}

/** Live updates: a dot while connected; words and a countdown when the server is away. */
function Connection({ state }: { state: SidebarState }): JSX.Element {
  const now = useNow(state.connection !== 'open');
  if (state.connection === 'open') {
    return (
      <span
        className="jp-ModelFiles-conn jp-ModelFiles-conn-open"
        title="live updates: connected"
        aria-label="live updates open"
      />
    );
  }
  const seconds = state.retryAt !== null ? Math.max(0, Math.ceil((state.retryAt - now) / 1000)) : null;
  const words =
    state.connection === 'connecting'
      ? 'connecting…'
      : seconds !== null && seconds > 0
        ? `disconnected, retrying in ${seconds} s`
        : 'disconnected, retrying…';
  return (
    <span className={`jp-ModelFiles-connwords jp-ModelFiles-conn-${state.connection}`} role="status">
      <span className="jp-ModelFiles-conn" aria-hidden="true" />
      {words}
    </span>
  );
}

function Sidebar({ sidebar, openView }: { sidebar: SidebarModel; openView?: () => void }): JSX.Element {
  const state = useModelState(sidebar);
  return (
    <div className="jp-ModelFiles-root">
      <header className="jp-ModelFiles-header">
        <h3>Model files</h3>
        <Connection state={state} />
        {openView ? (
          <button
            className="jp-ModelFiles-iconbutton"
            aria-label="Open the Model files view"
            title="Open the Model files view (a wide table)"
            onClick={openView}
          >
            <launchIcon.react tag="span" elementSize="small" />
          </button>
        ) : null}
      </header>
      <Notice state={state} sidebar={sidebar} />
      <ModelsSection state={state} sidebar={sidebar} />
      <DownloadsSection state={state} sidebar={sidebar} />
      <FilesSection state={state} sidebar={sidebar} />
    </div>
  );
}

/** The left-sidebar widget. */
export class ModelFilesPanel extends ReactWidget {
  constructor(
    readonly sidebar: SidebarModel,
    private readonly _openView?: () => void
  ) {
    super();
    this.id = 'jp-modelfiles-sidebar';
    this.addClass('jp-ModelFiles');
    this.title.caption = 'Model files';
  }

  /** Open the native file chooser of the Files section. */
  chooseUpload(): void {
    const input = this.node.querySelector<HTMLInputElement>('.jp-ModelFiles-fileinput');
    input?.click();
  }

  protected render(): JSX.Element {
    return <Sidebar sidebar={this.sidebar} openView={this._openView} />;
  }

  dispose(): void {
    this.sidebar.dispose();
    super.dispose();
  }
}
