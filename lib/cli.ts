#!/usr/bin/env node
import * as v8 from 'node:v8';

// Every function of the modules loaded below is compiled when its module
// loads, not at its first call: a debugger's first attach runs dozens of
// functions for the first time, and compiling them then made it 9.5-12 ms
// against 8-9 ms with this (gdb 13, emu), for about 20 ms more at start-up.
v8.setFlagsFromString('--no-lazy');
// After the flag: a static import would load the modules before it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./cli/main');
