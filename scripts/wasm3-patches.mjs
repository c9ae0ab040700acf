// Fixes applied to the wasm3 v0.5.0 sources after extraction (scripts/fetch-wasm3.mjs). All are
// out-of-memory paths the heap-budget test (host-esp32/test/lsh_test_runtime.c, natively or on rv32) found:
// on the ESP32 a load can run out of heap, and that must be an error, not a crash or a leak.
// Each is an exact text replacement; the fetch fails if the text is not found exactly once.
export const wasm3_patches = [
  {
    file: 'm3_module.c',
    why: 'Module_AddGlobal counted the new global before its realloc succeeded (the same bug as ' +
      'Module_AddFunction below): when the realloc failed, m3_FreeModule walked a NULL array.',
    old: [
      '    u32 index = io_module->numGlobals++;',
      '    io_module->globals = m3_ReallocArray (M3Global, io_module->globals, io_module->numGlobals, index);',
      '    _throwifnull(io_module->globals);',
    ].join('\n'),
    new: [
      '    u32 index = io_module->numGlobals;',
      '    IM3Global globals = m3_ReallocArray (M3Global, io_module->globals, index + 1, index);',
      '    _throwifnull(globals);',
      '    io_module->globals = globals;',
      '    io_module->numGlobals = index + 1;',
    ].join('\n'),
  },
  {
    file: 'm3_module.c',
    why: 'Module_AddFunction counted the new function before its realloc succeeded; when the ' +
      'realloc failed, m3_FreeModule walked a NULL array (segfault) and the old array leaked.',
    old: [
      '    u32 index = io_module->numFunctions++;',
      '    io_module->functions = m3_ReallocArray (M3Function, io_module->functions, io_module->numFunctions, index);',
      '',
      '    _throwifnull (io_module->functions);',
      '',
    ].join('\n'),
    new: [
      '    u32 index = io_module->numFunctions;',
      '    IM3Function functions = m3_ReallocArray (M3Function, io_module->functions, index + 1, index);',
      '',
      '    _throwifnull (functions);',
      '    io_module->functions = functions;',
      '    io_module->numFunctions = index + 1;',
      '',
    ].join('\n'),
  },
  {
    file: 'm3_compile.c',
    why: 'CompileElseBlock lost the enclosing code page when compiling the else branch failed ' +
      '(e.g. out of heap): 4 KiB leaked per failure.',
    old: [
      '    M3Result result;',
      '',
      '_try {',
      '',
      '    IM3CodePage elsePage;',
      '_   (AcquireCompilationCodePage (o, & elsePage));',
      '',
      '    * o_startPC = GetPagePC (elsePage);',
      '',
      '    IM3CodePage savedPage = o->page;',
      '    o->page = elsePage;',
      '',
      '_   (CompileBlock (o, i_blockType, c_waOp_else));',
      '',
      '_   (EmitOp (o, op_Branch));',
      '    EmitPointer (o, GetPagePC (savedPage));',
      '',
      '    ReleaseCompilationCodePage (o);',
      '',
      '    o->page = savedPage;',
      '',
      '} _catch:',
      '    return result;',
    ].join('\n'),
    new: [
      '    M3Result result;',
      '    IM3CodePage savedPage = o->page;',
      '',
      '_try {',
      '',
      '    IM3CodePage elsePage;',
      '_   (AcquireCompilationCodePage (o, & elsePage));',
      '',
      '    * o_startPC = GetPagePC (elsePage);',
      '',
      '    o->page = elsePage;',
      '',
      '_   (CompileBlock (o, i_blockType, c_waOp_else));',
      '',
      '_   (EmitOp (o, op_Branch));',
      '    EmitPointer (o, GetPagePC (savedPage));',
      '',
      '    ReleaseCompilationCodePage (o);',
      '',
      '    o->page = savedPage;',
      '',
      '} _catch:',
      '    if (result && o->page != savedPage)',
      '    {',
      '        ReleaseCompilationCodePage (o);',
      '        o->page = savedPage;',
      '    }',
      '    return result;',
    ].join('\n'),
  },
  {
    file: 'm3_compile.c',
    why: 'Compile_Select ignored a failed EmitOp (no heap for the next code page) and still wrote ' +
      'its slot operands into the full page, then compiling went on. After a few such selects the ' +
      'page overflowed; NumFreeLines (an unsigned count) then wrapped, no page was ever bridged ' +
      'again, and the rest of the function was written past the 1 KiB page over the heap ' +
      '(on rv32 a store fault in picolibc\'s realloc; natively glibc aborts). Found by the heap-budget ' +
      'sweep on rv32; select-chain.wasm reaches it on every build.',
    old: [
      '    EmitOp (o, op);',
      '    for (u32 i = 0; i < 3; i++)',
    ].join('\n'),
    new: [
      '_   (EmitOp (o, op));',
      '    for (u32 i = 0; i < 3; i++)',
    ].join('\n'),
  },
  {
    file: 'm3_compile.c',
    why: 'PreserveArgsAndLocals ignored a failed EmitOp the same way (the same overflow of the code ' +
      'page, two operands per preserved local).',
    old: [
      '                EmitOp          (o, op);',
      '                EmitSlotOffset  (o, preservedSlotNumber);',
    ].join('\n'),
    new: [
      '_               (EmitOp          (o, op));',
      '                EmitSlotOffset  (o, preservedSlotNumber);',
    ].join('\n'),
  },
];
