# node-gyp build of the two addons (`npm run build:native:gyp`); the
# cmake-js build (CMakeLists.txt) is the default. Both take their source
# lists from native/sources.json.
{
  "variables": {
    "seam": ["<!@(node -p \"require('./native/sources.json').seam.join(' ')\")"],
    "bhyve": ["<!@(node -p \"require('./native/sources.json').bhyve.join(' ')\")"],
    "fakevmm": ["<!@(node -p \"require('./native/sources.json').fakevmm.join(' ')\")"],
    "fakevmm_unicorn": ["<!@(node -p \"require('./native/sources.json').fakevmm_unicorn.join(' ')\")"],
    "kvm": ["<!@(node -p \"require('./native/sources.json').kvm.join(' ')\")"]
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++1y", "-std=gnu++17"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
  },
  "targets": [
    {
      "target_name": "vmm_core",
      "conditions": [
        ["OS=='freebsd'", {
          "sources": ["<@(seam)", "<@(bhyve)"],
          "defines": ["VMM_HAVE_BHYVE=1"],
          "libraries": ["-lvmmapi"]
        }, {
          "sources": ["<@(seam)", "<@(kvm)"],
          "conditions": [["'<!(node -p \"require('./native/sources.json').kvm.length > 0\")'=='true'", {
            "defines": ["VMM_HAVE_KVM=1"]
          }]]
        }]
      ]
    }
  ],
  "conditions": [
    ["OS!='freebsd'", {
      "targets": [
        {
          # Reads Unicorn's x86 CPU state, so it compiles the way Unicorn's x86_64 target does.
          "target_name": "fakevmm_unicorn",
          "type": "static_library",
          "sources": ["<@(fakevmm_unicorn)"],
          "include_dirs": ["native/fakevmm/include", "<!@(node scripts/build-unicorn.js --private-includes)"],
          "defines": ["NEED_CPU_H", "_GNU_SOURCE", "_FILE_OFFSET_BITS=64"],
          "cflags": ["-include", "x86_64.h", "-fPIC"]
        },
        {
          "target_name": "vmm_emu",
          "dependencies": ["fakevmm_unicorn"],
          "sources": ["<@(seam)", "<@(bhyve)", "<@(fakevmm)"],
          "defines": ["VMM_HAVE_BHYVE=1", "VMM_FAKE_VMM=1"],
          "include_dirs": ["native/fakevmm/include", "<!(node scripts/build-unicorn.js --include)"],
          "libraries": ["<!@(node scripts/build-unicorn.js)", "-lpthread", "-Wl,--exclude-libs,ALL"]
        }
      ]
    }]
  ]
}
