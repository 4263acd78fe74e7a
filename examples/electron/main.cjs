// Electron main process: loads the model once, serves generations to the window over IPC.
'use strict';
const path = require('node:path');
const { app, BrowserWindow, ipcMain } = require('electron');
const { load } = require('halfbyte');
const { GenerationService } = require('./generation-service.cjs');

// The bundled model by default; HALFBYTE_MODEL=/path/to/model.gguf for another. In a packaged app
// the model must be outside app.asar (asarUnpack): halfbyte maps the file, and an archive member
// cannot be mapped. halfbyte looks in app.asar.unpacked for a path inside app.asar.
const modelPath = process.env.HALFBYTE_MODEL || path.join(path.dirname(require.resolve('halfbyte/package.json')), 'models', 'stories260K.gguf');

let service;

async function main() {
  await app.whenReady();
  const model = await load(modelPath);
  service = new GenerationService(model);

  ipcMain.handle('halfbyte:info', () => ({ architecture: model.info.architecture, path: modelPath }));
  ipcMain.handle('halfbyte:generate', (event, { id, prompt, options }) => {
    const send = (channel, payload) => {
      if (!event.sender.isDestroyed()) event.sender.send(`halfbyte:${channel}`, payload);
    };
    // Not awaited: the reply says it started; the text arrives as halfbyte:chunk messages.
    service.start(String(id), String(prompt), { maxTokens: 200, ...options }, send);
    return { started: true };
  });
  ipcMain.handle('halfbyte:stop', (_event, id) => service.stop(String(id)));

  const win = new BrowserWindow({
    width: 720,
    height: 520,
    webPreferences: { preload: path.join(__dirname, 'preload.cjs'), contextIsolation: true, sandbox: true },
  });
  await win.loadFile(path.join(__dirname, 'index.html'));
}

app.on('window-all-closed', () => app.quit());
app.on('will-quit', () => service && service.dispose());
main().catch((err) => {
  console.error(err);
  app.exit(1);
});
