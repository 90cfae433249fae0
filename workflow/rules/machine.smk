# The machine a sweep runs on: its one-thread float32 matmul rate, measured when the sweep starts
# (the high priority puts it before the training jobs), CPU model and features. provenance
# copies it into provenance.json; bench/bench_floor.py divides the sweep's FLOP floor by it.
# temp(): provenance consumes it, so every sweep measures again. On a clone it is missing, like
# the runs, and is made only when provenance has to run again.


rule machine:
    output:
        temp(out("machine.json")),
    log:
        out("logs/machine.log"),
    priority: 100
    threads: 1
    shell:
        "python -m klgap machine --out {output:q} > {log:q} 2>&1"
