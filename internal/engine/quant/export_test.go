package quant

// ProcessCPUTime lets the external benchmarks (package quant_test) report CPU time.
var ProcessCPUTime = processCPUTime
