/**
 * The sidebar view: three collapsible sections (Models, Downloads, Files) rendered from the
 * SidebarModel. Native <details>/<button>/<input> elements keep it keyboard accessible.
 */
import { Clipboard, Dialog, showDialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { formatBytes, formatEta, formatPercent, formatSpeed, formatTimestamp, fraction } from './format';
import { SidebarModel, SidebarState } from './model';
import { Job, JOB_GROUPS, jobCount, jobLabel, Model, pageCount } from './state';

function useModelState(model: SidebarModel): SidebarState {
  const [state, setState] = React.useState(model.state);
  React.useEffect(() => {
    const update = (): void => setState(model.state);
    model.changed.connect(update);
    update();
    return () => {
      model.changed.disconnect(update);
    };
  }, [model]);
  return state;
}

function useNow(active: boolean): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    if (!active) {
      return;
    }
    // a clock for the ETA text only; the data itself arrives over the WebSocket
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

function ErrorLine({ message }: { message?: string }): JSX.Element | null {
  if (!message) {
    return null;
  }
  return (
    <div className="jp-ModelFiles-error" role="alert">
      {message}
    </div>
  );
}

function ProgressBar({ value, label }: { value: number | null; label: string }): JSX.Element {
  const percent = value === null ? undefined : Math.round(value * 100);
  return (
    <div
      className="jp-ModelFiles-progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
    >
      <div
        className={'jp-ModelFiles-progress-bar' + (value === null ? ' jp-ModelFiles-progress-indeterminate' : '')}
        style={{ width: value === null ? '100%' : `${(value * 100).toFixed(1)}%` }}
      />
    </div>
  );
}

// -- models --------------------------------------------------------------------------------

function ModelRow({
  model,
  state,
  sidebar
}: {
  model: Model;
  state: SidebarState;
  sidebar: SidebarModel;
}): JSX.Element {
  const expanded = state.expanded[model.id];
  const busy = !!state.busy[`model:${model.id}`];
  const title = model.name || model.id;
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
        <span className="jp-ModelFiles-name" title={model.description || model.id}>
          {title}
        </span>
        <span className="jp-ModelFiles-badges">
          {model.quantization ? <span className="jp-ModelFiles-badge">{model.quantization}</span> : null}
          {model.bytes?.value ? <span className="jp-ModelFiles-badge">{formatBytes(model.bytes.value)}</span> : null}
          {model.downloaded ? <span className="jp-ModelFiles-badge jp-ModelFiles-ok">downloaded</span> : null}
          {model.downloading ? <span className="jp-ModelFiles-badge">downloading</span> : null}
          {model.loaded ? <span className="jp-ModelFiles-badge jp-ModelFiles-ok">loaded</span> : null}
        </span>
      </div>
      <div className="jp-ModelFiles-actions">
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
            Load
          </button>
        )}
      </div>
      {expanded ? (
        <div className="jp-ModelFiles-modelfiles">
          {expanded.loading && !expanded.files.length ? <div className="jp-ModelFiles-muted">Loading…</div> : null}
          <ErrorLine message={expanded.error} />
          {expanded.files.length ? (
            <table className="jp-ModelFiles-table">
              <thead>
                <tr>
                  <th>File</th>
                  <th>Quant.</th>
                  <th>Size</th>
                  <th>RAM</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {expanded.files.map(file => (
                  <tr key={file.id}>
                    <td className="jp-ModelFiles-name" title={file.name}>
                      {file.name}
                    </td>
                    <td>{file.quantization || ''}</td>
                    <td>{formatBytes(file.sizeBytes)}</td>
                    <td>{file.maxRamUsage ? formatBytes(file.maxRamUsage) : ''}</td>
                    <td>
                      {file.isDownloaded ? (
                        <span className="jp-ModelFiles-ok" aria-label="downloaded">
                          ✓
                        </span>
                      ) : (
                        <button
                          disabled={busy}
                          aria-label={`Download ${file.name}`}
                          onClick={() => void sidebar.downloadModel(model.id, [file.id])}
                        >
                          Get
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : !expanded.loading && !expanded.error ? (
            <div className="jp-ModelFiles-muted">No files listed.</div>
          ) : null}
        </div>
      ) : null}
    </li>
  );
}

function ModelsSection({ state, sidebar }: { state: SidebarState; sidebar: SidebarModel }): JSX.Element {
  const [search, setSearch] = React.useState(state.modelSearch);
  return (
    <details className="jp-ModelFiles-section" open data-section="models">
      <summary>Models</summary>
      <form
        className="jp-ModelFiles-toolbar"
        onSubmit={ev => {
          ev.preventDefault();
          void sidebar.searchModels(search);
        }}
      >
        <input
          type="search"
          className="jp-ModelFiles-input"
          placeholder="Search models"
          aria-label="Search models"
          value={search}
          onChange={ev => setSearch(ev.target.value)}
        />
        <button type="submit">Search</button>
      </form>
      <ErrorLine message={state.errors.models} />
      {state.modelsLoading && !state.models.length ? <div className="jp-ModelFiles-muted">Loading…</div> : null}
      {!state.modelsLoading && !state.models.length && !state.errors.models ? (
        <div className="jp-ModelFiles-muted">No models.</div>
      ) : null}
      <ul className="jp-ModelFiles-list" aria-label="Models">
        {state.models.map(model => (
          <ModelRow key={model.id} model={model} state={state} sidebar={sidebar} />
        ))}
      </ul>
    </details>
  );
}

// -- downloads -----------------------------------------------------------------------------

function JobRow({
  job,
  state,
  sidebar,
  now
}: {
  job: Job;
  state: SidebarState;
  sidebar: SidebarModel;
  now: number;
}): JSX.Element {
  const label = jobLabel(job);
  const value = job.status === 'completed' ? 1 : fraction(job.downloaded_bytes, job.total_size_bytes);
  const busy = !!state.busy[`job:${job.job_id}`];
  const downloading = job.status === 'downloading' || job.status === 'verifying';
  const remaining = job.total_size_bytes !== undefined ? job.total_size_bytes - (job.downloaded_bytes ?? 0) : undefined;
  const eta = downloading ? formatEta(job.estimated_completion, now, remaining, job.bytes_per_second) : '';
  const canPause = downloading || job.status === 'queued';
  const canResume = job.status === 'paused' || job.status === 'failed';
  const canCancel = job.status !== 'completed';
  return (
    <li className="jp-ModelFiles-job" data-job-id={job.job_id} data-status={job.status}>
      <div className="jp-ModelFiles-row">
        <span className="jp-ModelFiles-name" title={job.url || job.model_id || job.job_id}>
          {label}
        </span>
        <span className="jp-ModelFiles-muted jp-ModelFiles-status">{job.status}</span>
      </div>
      <ProgressBar value={value} label={`Progress of ${label}`} />
      <div className="jp-ModelFiles-row jp-ModelFiles-muted jp-ModelFiles-jobinfo">
        <span>
          {formatBytes(job.downloaded_bytes ?? 0)} / {formatBytes(job.total_size_bytes)} {formatPercent(value)}
        </span>
        {downloading ? <span>{formatSpeed(job.bytes_per_second)}</span> : null}
        {eta ? <span aria-label="time left">{eta} left</span> : null}
      </div>
      {job.error ? <ErrorLine message={job.error} /> : null}
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
        {canCancel ? (
          <button
            disabled={busy}
            aria-label={`Cancel ${label}`}
            onClick={() => void sidebar.jobAction(job.job_id, 'cancel')}
          >
            Cancel
          </button>
        ) : null}
      </div>
    </li>
  );
}

function DownloadsSection({ state, sidebar }: { state: SidebarState; sidebar: SidebarModel }): JSX.Element {
  const [url, setUrl] = React.useState('');
  const [sha, setSha] = React.useState('');
  const now = useNow(state.jobs.downloading.length > 0);
  return (
    <details className="jp-ModelFiles-section" open data-section="downloads">
      <summary>Downloads ({jobCount(state.jobs)})</summary>
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
      {JOB_GROUPS.map(group =>
        state.jobs[group].length ? (
          <div key={group} className="jp-ModelFiles-group" data-group={group}>
            <h4 className="jp-ModelFiles-grouptitle">
              {group} ({state.jobs[group].length})
            </h4>
            <ul className="jp-ModelFiles-list" aria-label={`${group} downloads`}>
              {state.jobs[group].map(job => (
                <JobRow key={job.job_id} job={job} state={state} sidebar={sidebar} now={now} />
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
  const [search, setSearch] = React.useState(state.files.search);
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
                <div className="jp-ModelFiles-row">
                  <span className="jp-ModelFiles-name">{item.name}</span>
                  <span className="jp-ModelFiles-muted">
                    {item.status === 'uploading'
                      ? `${formatBytes(item.loaded)} / ${formatBytes(item.total)}`
                      : item.status}
                  </span>
                  {item.abort ? (
                    <button aria-label={`Cancel upload of ${item.name}`} onClick={item.abort}>
                      ✕
                    </button>
                  ) : null}
                </div>
                <ProgressBar
                  value={fraction(item.loaded, item.total) ?? (item.status === 'done' ? 1 : 0)}
                  label={`Upload of ${item.name}`}
                />
                <ErrorLine message={item.error} />
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
      <form
        className="jp-ModelFiles-toolbar"
        onSubmit={ev => {
          ev.preventDefault();
          void sidebar.loadFiles({ search });
        }}
      >
        <input
          type="search"
          className="jp-ModelFiles-input"
          placeholder="Search files"
          aria-label="Search files"
          value={search}
          onChange={ev => setSearch(ev.target.value)}
        />
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
      </form>
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

function Sidebar({ sidebar }: { sidebar: SidebarModel }): JSX.Element {
  const state = useModelState(sidebar);
  return (
    <div className="jp-ModelFiles-root">
      <header className="jp-ModelFiles-header">
        <h3>Model files</h3>
        <span
          className={`jp-ModelFiles-conn jp-ModelFiles-conn-${state.connection}`}
          title={`live updates: ${state.connection}`}
          aria-label={`live updates ${state.connection}`}
        />
      </header>
      {state.notice ? (
        <div className="jp-ModelFiles-notice" role="status">
          {state.notice}
        </div>
      ) : null}
      <ModelsSection state={state} sidebar={sidebar} />
      <DownloadsSection state={state} sidebar={sidebar} />
      <FilesSection state={state} sidebar={sidebar} />
    </div>
  );
}

/** The left-sidebar widget. */
export class ModelFilesPanel extends ReactWidget {
  constructor(readonly sidebar: SidebarModel) {
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
    return <Sidebar sidebar={this.sidebar} />;
  }

  dispose(): void {
    this.sidebar.dispose();
    super.dispose();
  }
}
