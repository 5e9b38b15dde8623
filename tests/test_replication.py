"""The replication table: every claim loads and names a real experiment of
config.yaml, each check gives the verdict its hand-made result files imply,
claims outside the run say so, and the papers' values agree with config.yaml's
`reported` entries (one fact, two places, kept equal by this test)."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from aemap.replication import (
    CHECKS,
    Claim,
    claim_files,
    judge,
    load_claims,
    replication_table,
    to_html,
    to_markdown,
)

from .conftest import REPO


def _claim(check, experiment="exp", expected=None, **args):
    return Claim(
        id=f"test-{check}",
        paper="inglis",
        where="Sec. 0",
        claim="a claim",
        experiment=experiment,
        check=check,
        paper_value="v",
        expected=expected or {"holds": True},
        args=args,
    )


def _table(tmp_path, claims, analyses):
    run = sorted({c.experiment for c in claims})
    return replication_table(claims, run, {e: analyses for e in run}, tmp_path)


def _write_latent(tmp_path, tops: dict[str, list[int]], experiment="exp"):
    rows = [
        {"class": c, "dim": d, "importance": 1.0 / (r + 1), "std": 0.0, "rank": r + 1}
        for c, dims in tops.items()
        for r, d in enumerate(dims)
    ]
    path = tmp_path / experiment / "importance" / "latent_by_class.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def test_every_claim_loads_and_names_an_experiment_of_the_config():
    claims = load_claims()
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert len({c.id for c in claims}) == len(claims) >= 20
    for claim in claims:
        assert claim.experiment in config["experiments"], claim.id
        assert claim.check in CHECKS


def test_a_malformed_claims_file_is_named(tmp_path):
    bad = tmp_path / "claims.yaml"
    entry = dict(
        id="x", paper="inglis", where="w", claim="c", experiment="e", check="metric", paper_value="1", expected={}
    )
    bad.write_text(yaml.safe_dump([entry]))
    with pytest.raises(ValueError, match="claims.yaml: claim 1 \\(x\\): expected must be"):
        load_claims(bad)
    bad.write_text(yaml.safe_dump([{**entry, "expected": {"holds": True}, "check": "nope"}]))
    with pytest.raises(ValueError, match="unknown check 'nope'"):
        load_claims(bad)


def test_judge_each_kind_of_expectation():
    assert judge({"range": [0.08, 0.09]}, 0.085) == (True, "")
    ok, why = judge({"range": [0.08, 0.09]}, 0.095)
    assert not ok and "above the range" in why
    assert judge({"value": 0.4, "tolerance": 0.1}, 0.45)[0]
    assert not judge({"value": 0.4, "tolerance": 0.1}, 0.55)[0]
    assert judge({"at_most": 1e-8}, 1e-12)[0] and not judge({"at_most": 1e-8}, 1e-6)[0]
    assert judge({"holds": True}, True)[0] and not judge({"holds": True}, False)[0]


def test_top_dimension_checks_read_the_ranks(tmp_path):
    _write_latent(tmp_path, {"a": [3, 1, 2], "b": [3, 2, 1], "c": [1, 2, 3]})
    claims = [
        _claim("shared_top_dim", classes=["a", "b", "c"], k=1),  # a, b: 3; c: 1 -> none shared
        _claim("shared_top_dim", classes=["a", "b", "c"], k=2),  # {3,1} & {3,2} & {1,2} -> none
        _claim("shared_top_dim", classes=["a", "b"], k=2),  # {3,1} & {3,2} -> 3
        _claim("same_top_dim", classes=["a", "b"]),
        _claim("same_top_dim", classes=["a", "c"]),
        _claim("unique_top_dim", target="c"),
        _claim("unique_top_dim", target="a"),
        _claim("same_top_dim", classes=["a", "zz"]),
    ]
    claims = [Claim(**{**c.__dict__, "id": f"c{i}"}) for i, c in enumerate(claims)]
    table = _table(tmp_path, claims, ["importance"])
    assert table["verdict"].tolist() == [
        "differs",
        "differs",
        "reproduced",
        "reproduced",
        "differs",
        "reproduced",
        "differs",
        "not comparable",
    ]
    assert table["ours"].iloc[2] == "yes (dim 3)"
    assert "also the top of b" in table["reason"].iloc[6]
    assert "no class 'zz'" in table["reason"].iloc[7]


def _write_corruption(tmp_path, most, least, fractions=(0.0, 0.1, 0.2, 0.3), classifiers=1):
    """Rows as compute_corruption_accuracy writes them: fraction 0 is the clean accuracy;
    with several classifiers, a made-up sd of 0.02."""
    sd = 0.02 if classifiers > 1 else 0.0
    rows = [
        {
            "source": "csda_local",
            "which": which,
            "fraction": f,
            "accuracy": a,
            "accuracy_std": sd,
            "runs": classifiers,
            "classifiers": classifiers,
        }
        for which, accs in (("most", most), ("least", least))
        for f, a in zip(fractions, accs, strict=True)
    ]
    path = tmp_path / "dae" / "sanity" / "corruption.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def test_corruption_checks(tmp_path):
    _write_corruption(tmp_path, most=[0.99, 0.9, 0.7, 0.45], least=[0.99, 0.99, 0.985, 0.98])
    claims = [
        _claim(
            "corruption_point", "dae", {"value": 0.4, "tolerance": 0.1}, source="csda_local", which="most", fraction=0.3
        ),
        _claim("corruption_falls", "dae", source="csda_local", which="most"),
        _claim(
            "corruption_drop",
            "dae",
            {"value": 0.0, "tolerance": 0.02},
            source="csda_local",
            which="least",
            fraction=0.3,
        ),
        _claim(
            "corruption_point", "dae", {"value": 0.4, "tolerance": 0.1}, source="csda_local", which="most", fraction=0.5
        ),
    ]
    claims = [Claim(**{**c.__dict__, "id": f"c{i}"}) for i, c in enumerate(claims)]
    table = _table(tmp_path, claims, ["sanity"])
    assert table["verdict"].tolist() == ["reproduced", "reproduced", "reproduced", "not comparable"]
    assert table["ours"].iloc[0] == "45.0 %"
    # The drop is measured from the table's own clean (0 %) row: the same classifiers and images.
    assert table["ours"].iloc[2] == "98.0 % (clean 99.0 %: 1.0 points lower)"
    assert claim_files(claims[2], "results") == ["results/dae/sanity/corruption.csv"]
    _write_corruption(tmp_path, most=[0.9, 0.9, 0.95, 0.2], least=[0.95, 0.9, 0.8, 0.7])
    table = _table(tmp_path, claims[:3], ["sanity"])
    assert table["verdict"].tolist() == ["differs", "differs", "differs"]
    assert "from 0.4" in table["reason"].iloc[0] and "25.0 points lower" in table["ours"].iloc[2]
    _write_corruption(tmp_path, most=[0.9, 0.7, 0.45], least=[0.99, 0.985, 0.98], fractions=(0.1, 0.2, 0.3))
    row = _table(tmp_path, claims[2:3], ["sanity"]).iloc[0]
    assert row["verdict"] == "not comparable" and "no clean (0 %) row" in row["reason"]
    # Means over three trainings of the classifier: shown with their sd, and said so.
    _write_corruption(tmp_path, most=[0.99, 0.9, 0.7, 0.45], least=[0.99, 0.99, 0.985, 0.98], classifiers=3)
    table = _table(tmp_path, claims[:3], ["sanity"])
    assert table["verdict"].tolist() == ["reproduced", "reproduced", "reproduced"]
    assert table["ours"].iloc[0] == "45.0 ± 2.0 %"
    assert table["ours"].iloc[2] == "98.0 ± 2.0 % (clean 99.0 %: 1.0 points lower)"
    assert table["reason"].tolist() == [
        "mean ± sd of 3 trainings of the classifier",
        "means of 3 trainings of the classifier",
        "mean ± sd of 3 trainings of the classifier",
    ]


def test_metric_translation_and_saliency_checks(tmp_path):
    exp = tmp_path / "dae"
    (exp / "sanity").mkdir(parents=True)
    (exp / "saliency").mkdir()
    (exp / "metrics.json").write_text(json.dumps({"train_loss": 0.0871, "test_accuracy": 0.99}))
    (exp / "sanity" / "translation.json").write_text(
        json.dumps(
            {
                "digit_shift": [-7.0, -7.0],
                "saliency_top10_shift_mean_map": [-6.2, -7.9],
                "saliency_shift_mean_map": [-3.0, -3.1],
            }
        )
    )
    np.savez(exp / "saliency" / "maps.npz", csda_vs_autograd_rel=np.float64(3e-15))
    claims = [
        _claim("metric", "dae", {"range": [0.08, 0.09]}, key="train_loss"),
        _claim("metric", "dae", {"range": [0.07, 0.08]}, key="train_loss"),
        _claim("translation", "dae", tolerance_px=2.0),
        _claim("translation", "dae", key="saliency_shift_mean_map", tolerance_px=2.0),
        _claim("saliency_cross_check", "dae", {"at_most": 1e-8}, key="csda_vs_autograd_rel"),
        _claim("metric", "dae", {"value": 0.999, "tolerance": 0.002}, key="test_accuracy", percent=True),
    ]
    claims = [Claim(**{**c.__dict__, "id": f"c{i}"}) for i, c in enumerate(claims)]
    table = _table(tmp_path, claims, ["sanity", "saliency"])
    assert table["verdict"].tolist() == ["reproduced", "differs", "reproduced", "differs", "reproduced", "differs"]
    assert "0.0071 above the range" in table["reason"].iloc[1]
    # In percent, as the paper states accuracies: 0.9 points below 99.9 %, tolerance 0.2.
    assert table["ours"].iloc[5] == "99.00 %" and table["reason"].iloc[5] == "-0.9 points from 99.9 (tolerance 0.2)"
    assert table["reason"].iloc[2] == "the whole map's centre of mass moved (-3.0, -3.1) px"
    assert table["reason"].iloc[3] == "4.0 px apart (tolerance 2.0 px)"


def test_translation_over_trainings_is_judged_on_the_mean(tmp_path):
    """Two of three trainings are more than 2 px off, their mean is not: the
    verdict is the mean's, and every training's gap is named."""
    exp = tmp_path / "dae"
    (exp / "sanity").mkdir(parents=True)
    cores = [[-8.3, -4.7], [-8.1, -4.6], [-7.9, -5.9]]
    trainings = [
        {"seed": s, "experiment": f"dae_translated_seed{s}", "saliency_top10_shift_mean_map": c}
        for s, c in enumerate(cores)
    ]
    mean, sd = np.mean(cores, axis=0), np.std(cores, axis=0, ddof=1)
    result = {
        "digit_shift": [-7.0, -7.0],
        "saliency_top10_shift_mean_map": mean.tolist(),
        "saliency_top10_shift_mean_map_sd": sd.tolist(),
        "saliency_shift_mean_map": [-3.4, -3.2],
        "trainings": trainings,
    }
    (exp / "sanity" / "translation.json").write_text(json.dumps(result))
    claim = Claim(**{**_claim("translation", "dae", tolerance_px=2.5).__dict__, "id": "t"})
    table = _table(tmp_path, [claim], ["sanity"])
    assert table["verdict"].tolist() == ["reproduced"]  # mean (-8.1, -5.07): 1.93 px apart
    assert table["ours"].iloc[0] == "moved (-8.1, -5.1) px, digits (-7.0, -7.0) (mean of 3 trainings, sd (0.2, 0.7))"
    assert "per training seed 0: 2.3 px apart, seed 1: 2.4 px apart, seed 2: 1.1 px apart" in table["reason"].iloc[0]
    strict = Claim(**{**_claim("translation", "dae", tolerance_px=1.5).__dict__, "id": "t"})
    assert _table(tmp_path, [strict], ["sanity"])["verdict"].tolist() == ["differs"]


def test_perturbation_checks_count_ties_at_the_top(tmp_path):
    rows = []
    for layer in ("conv1", "conv2"):
        for p, r, top1 in (("none", 0.3, 1), ("blur", 0.5, 1), ("pyramid", 0.55, 1)):
            rows += [{"layer": layer, "perturbation": p, "correlation": r, "top1": top1}] * 2
    path = tmp_path / "cnn" / "attribution" / "metrics.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    claims = [
        _claim("best_perturbation", "cnn", metric="correlation", best="pyramid"),
        _claim("best_perturbation", "cnn", metric="correlation", best="blur"),
        _claim("best_perturbation", "cnn", metric="top1", best="pyramid"),
        _claim("perturbation_mean", "cnn", {"range": [0.5, 1.0]}, metric="correlation", perturbation="pyramid"),
        _claim("perturbation_mean", "cnn", {"range": [0.5, 1.0]}, metric="correlation", perturbation="gaussian"),
    ]
    claims = [Claim(**{**c.__dict__, "id": f"c{i}"}) for i, c in enumerate(claims)]
    table = _table(tmp_path, claims, ["attribution"])
    assert table["verdict"].tolist() == ["reproduced", "differs", "reproduced", "reproduced", "not comparable"]
    assert table["ours"].iloc[2] == "blur = none = pyramid best"
    assert table["ours"].iloc[3] == "0.550"


def test_claims_outside_the_run_say_why(tmp_path):
    claims = [Claim(**{**_claim("metric", "a", key="k").__dict__, "id": "a"}), _claim("same_top_dim", "b", classes=[])]
    table = replication_table(claims, ["b"], {"b": ["saliency"]}, tmp_path)
    assert table["verdict"].tolist() == ["not run", "not run"]
    assert table["reason"].tolist() == [
        "a is not in `run`",
        "experiments.b.analyses does not list 'importance'",
    ]


def test_markdown_and_html_hold_every_row():
    table = replication_table(load_claims(), [], {}, "nowhere")
    md = to_markdown(table)
    assert md.count("\n") == len(table) + 2
    page = to_html(table)
    assert page.count("<tr style=") == len(table)
    assert "not run" in page and "<script" not in page
    escaped = to_markdown(pd.DataFrame([{**table.iloc[0].to_dict(), "reason": "a | b"}]))
    assert "a \\| b" in escaped


def test_papers_values_agree_with_the_configs_reported_entries():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    by_id = {c.id: c for c in load_claims()}
    dae = config["experiments"]["arumugam_dae"]["reported"]
    assert by_id["arumugam-dae-train-bce"].expected["range"] == dae["train_loss"]
    assert by_id["arumugam-dae-test-bce"].expected["range"] == dae["test_loss"]
    cnn = config["experiments"]["arumugam_cnn"]["reported"]
    assert by_id["arumugam-cnn-accuracy"].expected["value"] == cnn["test_accuracy"]
    most = dict(map(tuple, config["sanity"]["corruption"]["reported"]["most"]))
    assert by_id["arumugam-corruption-most-30"].expected["value"] == most[0.3]


def test_result_tables_page_shortens_long_tables_readably(tmp_path):
    from aemap.tables import tables_html

    exp = tmp_path / "e"
    (exp / "importance").mkdir(parents=True)
    (exp / "metrics.json").write_text(
        json.dumps({"test_loss": 0.1234567, "versions": {"torch": "x"}, "data": {"bytes": 5}})
    )
    rows = [
        {"class": c, "dim": d, "importance": float(d if c == "a" else 10 - d), "std": 0.0, "rank": 0}
        for c in "ab"
        for d in range(1, 9)
    ]
    table = pd.DataFrame(rows)
    table["rank"] = table.groupby("class")["importance"].rank(ascending=False, method="first").astype(int)
    table.to_csv(exp / "importance" / "latent_by_class.csv", index=False)
    pd.DataFrame({"x": range(100)}).to_csv(exp / "long.csv", index=False)
    files = [str(exp / "metrics.json"), str(exp / "importance" / "latent_by_class.csv"), str(exp / "long.csv")]
    page = tables_html({"e": files})
    assert "<td>0.123457</td>" in page and "torch" not in page and "data.bytes" in page
    assert "dim 8 (8)" in page.split("<td>a</td>")[1].split("</tr>")[0]  # class a's top dim first
    assert "dim 1 (9)" in page.split("<td>b</td>")[1].split("</tr>")[0]
    assert "the first 60 of 100 rows" in page and page.count("<tr>") < 100
