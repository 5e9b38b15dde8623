"""Rule render_result_tables: every result table of the run -> tables.html."""

from aemap.io import atomic_path
from aemap.provenance import setup_logging
from aemap.tables import tables_html

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
with atomic_path(sm.output.html) as tmp:
    tmp.write_text(tables_html(sm.params.tables, "Result tables of this run"))
log.info("%d tables of %d experiments", sum(map(len, sm.params.tables.values())), len(sm.params.tables))
