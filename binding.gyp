# node-gyp build of the addon. Sources come from native/sources.json (shared with CMakeLists.txt).
# Each instruction-set file is its own static library so it alone gets its -m flags; the code in
# it only runs after the run-time CPU check (native/core/quant/cpu_features.cpp).
{
  "variables": {
    "hb_cflags": ["-O3", "-fPIC", "-fexceptions", "-Wall", "-Wno-unused-parameter", "-Wno-unused-function"]
  },
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc": ["-std=c++17", "<@(hb_cflags)"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fexceptions"]
    },
    "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] } },
    "conditions": [
      # Windows: the core uses GCC/Clang builtins and attributes, so it builds with clang-cl (Visual
      # Studio's "C++ Clang tools for Windows"), not cl.exe. Checked from Linux only: the core and
      # its tests cross-compile with mingw-w64 and pass under wine (scripts/test-windows.sh).
      ["OS=='win'", {
        "msbuild_toolset": "ClangCL",
        "defines": ["NOMINMAX", "WIN32_LEAN_AND_MEAN", "_CRT_SECURE_NO_WARNINGS"],
        "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1, "Optimization": 2,
          "AdditionalOptions": ["/std:c++17", "/EHsc", "-Wno-unused-parameter", "-Wno-unused-function"] } }
      }],
      # macOS 11 is the first with Apple silicon; libc++ and exceptions as on Linux.
      ["OS=='mac'", {
        "xcode_settings": { "MACOSX_DEPLOYMENT_TARGET": "11.0", "CLANG_CXX_LIBRARY": "libc++" }
      }]
    ]
  },
  "targets": [
    {
      "target_name": "halfbyte_x86_avx2",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["<!@(node -p \"require('./native/sources.json').x86_avx2.join(' ')\")"],
        "cflags_cc": ["-mavx2", "-mfma", "-mf16c"],
        "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mf16c"] },
        "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["-mavx2", "-mfma", "-mf16c"] } }
      }]]
    },
    {
      "target_name": "halfbyte_x86_avx512",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["<!@(node -p \"require('./native/sources.json').x86_avx512.join(' ')\")"],
        "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx512dq", "-mavx2", "-mfma", "-mf16c"],
        "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx512dq", "-mavx2", "-mfma", "-mf16c"] },
        "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx512dq", "-mavx2", "-mfma", "-mf16c"] } }
      }]]
    },
    {
      "target_name": "halfbyte_x86_amx",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["<!@(node -p \"require('./native/sources.json').x86_amx.join(' ')\")"],
        "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx512dq", "-mavx2", "-mfma", "-mf16c", "-mamx-tile", "-mamx-int8"],
        "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx512dq", "-mavx2", "-mfma", "-mf16c", "-mamx-tile", "-mamx-int8"] },
        "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx512dq", "-mavx2", "-mfma", "-mf16c", "-mamx-tile", "-mamx-int8"] } }
      }]]
    },
    {
      "target_name": "halfbyte_arm_neondot",
      "type": "static_library",
      "conditions": [["target_arch=='arm64'", {
        "sources": ["<!@(node -p \"require('./native/sources.json').arm_neondot.join(' ')\")"],
        "cflags_cc": ["-march=armv8.2-a+dotprod"],
        "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-march=armv8.2-a+dotprod"] },
        "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["-march=armv8.2-a+dotprod"] } }
      }]]
    },
    {
      "target_name": "halfbyte",
      "sources": [
        "<!@(node -p \"require('./native/sources.json').core.join(' ')\")",
        "<!@(node -p \"require('./native/sources.json').addon.join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # SWALLOW_UNTHROWABLE: a terminated worker_thread completes pending work while its environment
      # tears down; JS cannot run then, and node-addon-api would rethrow into std::terminate.
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["halfbyte_x86_avx2", "halfbyte_x86_avx512", "halfbyte_x86_amx"] }],
        ["target_arch=='arm64'", {
          "sources": ["<!@(node -p \"require('./native/sources.json').arm_neon.join(' ')\")"],
          "dependencies": ["halfbyte_arm_neondot"]
        }],
        ["OS=='linux'", { "libraries": ["-lpthread"] }],
        ["OS=='win'", { "libraries": ["kernel32.lib"] }]
      ]
    }
  ]
}
