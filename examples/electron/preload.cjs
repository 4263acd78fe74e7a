// The only bridge between the window and the main process: three calls and three events.
'use strict';
const { contextBridge, ipcRenderer } = require('electron');

contextBridge.exposeInMainWorld('halfbyte', {
  info: () => ipcRenderer.invoke('halfbyte:info'),
  generate: (id, prompt, options) => ipcRenderer.invoke('halfbyte:generate', { id, prompt, options }),
  stop: (id) => ipcRenderer.invoke('halfbyte:stop', id),
  on: (event, listener) => {
    const wrapped = (_e, payload) => listener(payload);
    ipcRenderer.on(`halfbyte:${event}`, wrapped);
    return () => ipcRenderer.removeListener(`halfbyte:${event}`, wrapped);
  },
});
