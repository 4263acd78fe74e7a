// Windows, mingw-w64 builds only (scripts/test-windows.sh; node-gyp's MSVC builds bring their own
// copy of this hook). The addon imports N-API from "node.exe" through a delay-load import
// library; when the host process has another name (electron.exe, a renamed node), this hook
// hands the delay loader the host's own module, which exports N-API.
#if defined(_WIN32) && defined(__MINGW32__)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <delayimp.h>
#include <cstring>

static FARPROC WINAPI halfbyte_load_host(unsigned event, PDelayLoadInfo info) {
  if (event != dliNotePreLoadLibrary || !info || !info->szDll) return nullptr;
  if (_stricmp(info->szDll, "node.exe") != 0) return nullptr;
  return reinterpret_cast<FARPROC>(GetModuleHandleW(nullptr));
}

// Defined here, so the linker does not take libmingwex's empty one.
extern "C" {
PfnDliHook __pfnDliNotifyHook2 = halfbyte_load_host;
}
#endif
