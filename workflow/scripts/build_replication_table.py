"""Rule build_replication_table: the papers' claims against our results ->
replication.csv, .md and .html."""

from aemap.io import atomic_path
from aemap.provenance import setup_logging
from aemap.replication import load_claims, replication_table, to_html, to_markdown, verdict_counts

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
facts = sm.params.facts
table = replication_table(load_claims(), facts["run"], facts["analyses"], "results")
with atomic_path(sm.output.csv) as tmp:
    table.to_csv(tmp, index=False)
with atomic_path(sm.output.md) as tmp:
    tmp.write_text(to_markdown(table))
with atomic_path(sm.output.html) as tmp:
    tmp.write_text(to_html(table))
log.info("%s\n%s", verdict_counts(table), table[["id", "ours", "verdict"]].to_string(index=False))
