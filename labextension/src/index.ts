/**
 * jupyter-modelfiles JupyterLab extension: a left-sidebar panel for models, downloads and
 * uploaded files, a main-area "Model files" view (sidebar button, launcher, command palette),
 * plus palette commands.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { LabIcon } from '@jupyterlab/ui-components';

import { ModelFilesClient } from './client';
import { createMainView, ModelFilesView } from './mainview';
import { SidebarModel } from './model';
import { ModelFilesPanel } from './panel';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161"><path d="M4 3h11l5 5v13H4zm10 1.5V9h4.5zM8 12v2h3v5h2v-5h3v-2z"/></g></svg>`;

export const modelFilesIcon = new LabIcon({ name: 'jupyter-modelfiles:icon', svgstr: ICON_SVG });

export namespace CommandIDs {
  export const open = 'modelfiles:open';
  export const openView = 'modelfiles:open-view';
  export const download = 'modelfiles:download';
  export const upload = 'modelfiles:upload';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-modelfiles:plugin',
  description: 'Browse models, control downloads and manage uploaded files.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, ILauncher],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    launcher: ILauncher | null
  ): void => {
    const sidebar = new SidebarModel(new ModelFilesClient());
    const panel = new ModelFilesPanel(sidebar, () => void app.commands.execute(CommandIDs.openView));
    panel.title.icon = modelFilesIcon;
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'jupyter-modelfiles');
    }
    sidebar.start();

    const open = (): void => {
      app.shell.activateById(panel.id);
    };

    app.commands.addCommand(CommandIDs.open, {
      label: 'Model files: open',
      caption: 'Open the model files sidebar',
      execute: open
    });
    const tracker = new WidgetTracker<MainAreaWidget<ModelFilesView>>({ namespace: 'jupyter-modelfiles-view' });
    let view: MainAreaWidget<ModelFilesView> | null = null;
    app.commands.addCommand(CommandIDs.openView, {
      label: args => (args.isLauncher ? 'Model files' : 'Model files: open the main view'),
      caption: 'A wide table of the models: sizes, memory, downloads, loaded models',
      icon: args => (args.isPalette ? undefined : modelFilesIcon),
      execute: () => {
        if (!view || view.isDisposed) {
          view = createMainView(sidebar);
          view.title.icon = modelFilesIcon;
          void tracker.add(view);
        }
        if (!view.isAttached) {
          app.shell.add(view, 'main');
        }
        app.shell.activateById(view.id);
      }
    });
    if (restorer) {
      void restorer.restore(tracker, { command: CommandIDs.openView, name: () => 'model-files-view' });
    }
    if (launcher) {
      launcher.add({ command: CommandIDs.openView, category: 'Other', rank: 50 });
    }

    app.commands.addCommand(CommandIDs.download, {
      label: 'Download model...',
      caption: 'Download a file by URL or a catalog model by id',
      execute: async () => {
        open();
        const result = await InputDialog.getText({
          title: 'Download model',
          label: 'File URL (https://…) or catalog model id',
          placeholder: 'https://… or org/model'
        });
        if (result.button.accept && result.value) {
          await sidebar.startDownload(result.value);
        }
      }
    });
    app.commands.addCommand(CommandIDs.upload, {
      label: 'Upload file...',
      caption: 'Upload files to the model files store',
      execute: () => {
        open();
        panel.chooseUpload();
      }
    });
    if (palette) {
      for (const command of [CommandIDs.open, CommandIDs.openView, CommandIDs.download, CommandIDs.upload]) {
        palette.addItem({ command, category: 'Model files' });
      }
    }
  }
};

export default plugin;
