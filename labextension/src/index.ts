/**
 * jupyter-wps in JupyterLab: a left-sidebar panel of the WPS processes and jobs of the
 * Jupyter server JupyterLab runs on (its `<baseUrl>wps/api/`).
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';

import { WPSClient } from './api';
import { WPSPanel } from './panel';

export { WPSClient } from './api';
export { WPSPanel } from './panel';

/** Command ids. */
export namespace CommandIDs {
  export const show = 'jupyter-wps:show';
  export const refresh = 'jupyter-wps:refresh';
}

/** A globe with a gear's teeth: processes on a network. */
const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm6.9 6h-2.95a15.6 15.6 0 0 0-1.38-3.56A8.03 8.03 0 0 1 18.9 8zM12 4.04c.83 1.2 1.48 2.53 1.91 3.96h-3.82A13.8 13.8 0 0 1 12 4.04zM4.26 14a8.2 8.2 0 0 1 0-4h3.38a16.5 16.5 0 0 0 0 4H4.26zm.82 2h2.95c.32 1.25.78 2.45 1.38 3.56A7.99 7.99 0 0 1 5.08 16zm2.95-8H5.08a7.99 7.99 0 0 1 4.33-3.56A15.6 15.6 0 0 0 8.03 8zM12 19.96A14.1 14.1 0 0 1 10.09 16h3.82A14.1 14.1 0 0 1 12 19.96zM14.34 14H9.66a14.7 14.7 0 0 1 0-4h4.68a14.7 14.7 0 0 1 0 4zm.25 5.56c.6-1.11 1.06-2.31 1.38-3.56h2.95a8.03 8.03 0 0 1-4.33 3.56zM16.36 14a16.5 16.5 0 0 0 0-4h3.38a8.2 8.2 0 0 1 0 4h-3.38z"/>
  </g>
</svg>`;

export const wpsIcon = new LabIcon({ name: 'jupyter-wps:icon', svgstr: ICON_SVG });

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-wps:plugin',
  description: 'A panel of the WPS processes and jobs of this Jupyter server.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const panel = new WPSPanel(new WPSClient(app.serviceManager.serverSettings));
    panel.id = 'jp-wps-panel';
    panel.title.icon = wpsIcon;
    panel.title.caption = 'WPS processes and jobs';
    app.shell.add(panel, 'left', { rank: 850 });
    if (restorer) {
      restorer.add(panel, 'jupyter-wps-panel');
    }

    app.commands.addCommand(CommandIDs.show, {
      label: 'WPS: Show processes and jobs',
      caption: 'Show the WPS panel: the processes and jobs of this server',
      icon: wpsIcon,
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'WPS: Refresh processes and jobs',
      execute: () => panel.refresh()
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.show, category: 'WPS' });
      palette.addItem({ command: CommandIDs.refresh, category: 'WPS' });
    }
  }
};

export default plugin;
