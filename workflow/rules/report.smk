# The replication table: every quantitative claim of the papers (aemap/claims.yaml)
# against our result files, with a verdict. Built by `rule all` whenever the run
# holds an experiment a claim is about; `make report` puts it first in the report.
rule build_replication_table:
    input:
        # The claims too: editing aemap/claims.yaml rebuilds the table (relative: a
        # moved checkout reruns nothing).
        claims=os.path.relpath(CLAIMS_FILE),
        results=get_replication_inputs,
    output:
        csv="results/replication.csv",
        md="results/replication.md",
        html=report(
            "results/replication.html",
            caption="../report/replication.rst",
            category=CATEGORY["replication"],
            subcategory="all experiments",
        ),
    log:
        "logs/build_replication_table/all.log",
    benchmark:
        "benchmarks/build_replication_table/all.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("build_replication_table"),
        facts=_replication_facts(),
    script:
        "../scripts/build_replication_table.py"


# Every result table of the run in one page for the report (the files keep everything).
rule render_result_tables:
    input:
        lambda w: [t for tables in get_result_tables().values() for t in tables],
    output:
        html=report(
            "results/tables.html",
            caption="../report/tables.rst",
            category=CATEGORY["replication"],
            subcategory="all experiments",
        ),
    log:
        "logs/render_result_tables/all.log",
    benchmark:
        "benchmarks/render_result_tables/all.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("render_result_tables"),
        tables=get_result_tables(),
    script:
        "../scripts/render_result_tables.py"
