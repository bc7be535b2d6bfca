"""Benchmark harness and registry-driven suites for the zoo (``python -m benchmarks --help``).

    timing.py    CUDA events / perf_counter, warm-up + median, interleaved A/B ratios, peak memory
    hardware.py  datasheet peaks, GEMM/copy ceilings measured in the run, environment, profiler kernel names
    counting.py  logical FLOPs and bytes (attention 4·B·H·N_q·N_k·D, causal /2, backward 2.5×; FlopCounterMode)
    shapes.py    per-kind shape tables (quick / cpu / gpu tiers) and scaling of a registry entry's tiny config
    cases.py     one registry entry × shape × backend × direction -> one record
    suites/      attention, attention_core, factorized, conv, blocks, recipes, samplers
    report.py    JSON / CSV / Markdown, regression gate;  plots.py  matplotlib figures (optional)
"""
