"""Class 2: bad config values as overrides to `train`, and hostile YAML files."""
import os

import files as F
from core import Case

HUGE = "9223372036854775807"
OVERFLOW = "99999999999999999999"

# key -> values that must be refused (the tiny config has encoder/decoder width 16, 2 heads, targets 4 x 8)
BAD = {
    "model.encoder_hidden_dim": ["0", "-16", "15", "two", "1.5", HUGE],
    "model.nat_depth": ["0", "-1", "two", HUGE],
    "model.num_heads": ["0", "-2", "3", "two", HUGE],
    "model.tome_r": ["-1", "two", "1.5"],
    "model.decoder_hidden_dim": ["0", "-16", "15", "two", HUGE],
    "model.n_blocks_decoder": ["0", "-1", "two", HUGE],
    "model.clip_seq_dim": ["0", "-4", "5", "two"],
    "model.clip_emb_dim": ["0", "-8", "7", "two"],
    "model.drop": ["-0.1", "1.0", "nan", "two"],
    "model.drop_path_rate": ["-0.1", "1.5", "nan"],
    "model.siren_omega0": ["nan", "inf", "two"],
    "model.full_attention": ["maybe", "2"],
    "model.last_n_features": ["-1", "two"],
    "train.epochs": ["0", "2", "-4", "two", HUGE, OVERFLOW, "3.5"],
    "train.batch_size": ["0", "1", "-8", "two", HUGE],
    "train.max_lr": ["0", "-1e-3", "nan", "inf", "two"],
    "train.weight_decay": ["-0.01", "nan", "inf", "two"],
    "train.grad_clip": ["-1", "nan", "two"],
    "train.mixup_pct": ["-0.1", "1.5", "nan"],
    "train.mixco_temperature": ["0", "-1", "nan"],
    "train.softclip_start_temperature": ["0", "nan"],
    "train.softclip_end_temperature": ["-1", "inf"],
    "train.clip_loss_scale": ["nan", "inf"],
    "train.seed": ["-1", "two", "1.5"],
    "train.precision": ["fp64", "''"],
    "train.checkpoint_every": ["0", "-1", "two"],
    "train.threads": ["-1", "100000", "two"],
    "train.max_steps": ["-1", "two"],
    "train.bimixco_form": ["bogus"],
    "train.use_prior": ["maybe"],
    "data.train_subjects": ["[1,1]", "[]", "[0]", "[-1]", "[9]", "two", "[1.5]"],
    "data.test_subjects": ["[1,1]", "[9]", "[0]"],
    "data.betas_dtype": ["float64x"],
    "data.coordinates": ["bogus"],
    "data.prefetch": ["-1", "two", HUGE],
    "data.root": ["''"],
    "eval.pools": ["0", "-1", "two"],
    "eval.pool_size": ["0", "1", "-5"],
    "eval.batch_size": ["0", "-1"],
    "eval.every_epochs": ["0", "-3"],
    "eval.protocol": ["bogus"],
    "eval.ties": ["bogus"],
    "eval.seed": ["-1"],
}
# values of the wrong type: a clear message quotes them back
WORDS = {"two", "maybe", "bogus", "float64x", "fp64"}
# prior keys only matter with train.use_prior=true
PRIOR_BAD = {
    "prior.dim": ["0", "-64"], "prior.depth": ["0"], "prior.heads": ["0", "-1"], "prior.dim_head": ["0"],
    "prior.timesteps": ["0", "-1"], "prior.num_tokens": ["0"], "prior.sampling_steps": ["0", "-1"],
    "prior.cond_drop_prob": ["1.5", "-0.1"], "prior.guidance_scale": ["nan"], "prior.eta": ["nan"],
    "prior.learned_query_mode": ["bogus"], "prior.ff_mult": ["0"], "train.prior_loss_scale": ["nan"],
}
# overrides that are malformed as text
MALFORMED = [
    ("unknown-key", "model.bogus=1", ["bogus"]), ("unknown-section", "bogus.x=1", ["bogus"]),
    ("section-as-value", "train=1", ["train"]), ("nested-below-scalar", "model.num_heads.x=1", ["num_heads"]),
    ("empty-key", "=1", ["=1", "override"]), ("no-equals", "noequals", ["noequals"]),
    ("no-value", "model.num_heads", ["num_heads"]), ("empty-segment", "model..x=1", ["model..x", "model.x"]),
    ("typo-key", "train.epoch=5", ["epoch"]), ("flow-map-value", "train.epochs={a: 1}", ["train.epochs"]),
    ("unclosed-list", "data.train_subjects=[1,2", ["train_subjects"]),
]


def yaml_cases(fx):
    """(name, writer(path), names): hostile YAML files given as --config. Those built on the tiny config would
    train if the hostile part were ignored."""
    deep = 3000
    tiny = fx.config.read_text()
    # 9 levels of 9 aliases: 9^9 (387 million) leaves once expanded, inside a key the config reads
    laughs = "[&a [1, 1, 1, 1, 1, 1, 1, 1, 1], " + ", ".join(
        f"&{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(9)) + "]"
    return [
        ("empty-file", lambda p: p.write_text(""), ["config.yaml", "empty"]),
        ("binary-garbage", lambda p: F.garbage(p, 4096), ["config.yaml"]),
        ("top-level-list", lambda p: p.write_text("- 1\n- 2\n"), ["config.yaml"]),
        ("top-level-scalar", lambda p: p.write_text("hello\n"), ["config.yaml"]),
        ("section-is-scalar", lambda p: p.write_text("model: 5\n"), ["model"]),
        ("duplicate-section", lambda p: p.write_text(tiny + "train:\n  epochs: 4\n"), ["train", "duplicate"]),
        ("duplicate-key", lambda p: p.write_text(tiny.replace("  epochs: 3\n", "  epochs: 3\n  epochs: 4\n")),
         ["epochs", "duplicate"]),
        ("tabs", lambda p: p.write_text("train:\n\tepochs: 3\n"), ["config.yaml"]),
        ("invalid-utf8", lambda p: p.write_bytes(b"train:\n  precision: \xff\xfe\n"), ["config.yaml"]),
        ("deep-list-nesting", lambda p: p.write_text("model: " + "[" * deep + "]" * deep + "\n"),
         ["config.yaml", "deep", "nest"]),
        ("deep-map-nesting", lambda p: p.write_text("model: " + "{a: " * deep + "1" + "}" * deep + "\n"),
         ["config.yaml", "deep", "nest"]),
        ("deep-block-nesting", lambda p: p.write_text("".join(" " * i + "a:\n" for i in range(deep)) + " " * deep
                                                      + "1\n"), ["config.yaml", "deep", "nest"]),
        ("billion-laughs", lambda p: p.write_text(tiny.replace("  test_subjects: [1, 2]", "  test_subjects: " + laughs)),
         ["config.yaml", "alias", "test_subjects"]),
        ("huge-64MB", lambda p: p.write_text(tiny + ("#" + "y" * 1023 + "\n") * 65536),
         ["config.yaml", "size", "large", "big", "MB"]),
        ("unknown-nested-key", lambda p: p.write_text(tiny.replace("  epochs: 3\n", "  epochs: 3\n  nested: {deep: 1}\n")),
         ["nested"]),
        ("wrong-type-list-for-int", lambda p: p.write_text(tiny.replace("  epochs: 3\n", "  epochs: [1, 2]\n")),
         ["train.epochs", "epochs"]),
    ]


def make_cases(fx):
    cases = []

    def train(d, *overrides, config=None):
        return ["train", "--config", config or fx.config, "--run-dir", d / "run", *overrides]

    for key, values in BAD.items():
        for v in values:
            cases.append(Case(2, f"{key}={v}", lambda d, o=f"{key}={v}": train(d, o),
                              names=[key, key.split(".")[-1]], quotes=[v] if v in WORDS else []))
    for key, values in PRIOR_BAD.items():
        for v in values:
            cases.append(Case(2, f"{key}={v} (with the prior)",
                              lambda d, o=f"{key}={v}": train(d, "train.use_prior=true", o),
                              names=[key, key.split(".")[-1]]))
    for name, o, names in MALFORMED:
        cases.append(Case(2, f"override:{name}", lambda d, o=o: train(d, o), names=names))
    for name, write, names in yaml_cases(fx):
        def prepare(d, write=write):
            p = d / "config.yaml"
            write(p)
            return train(d, config=p)
        cases.append(Case(2, f"yaml:{name}", prepare, names=names))

    def special(name, writer, names):
        def prepare(d):
            p = d / "config.yaml"
            writer(p)
            return train(d, config=p)
        cases.append(Case(2, f"yaml:{name}", prepare, names=names))
    special("missing-file", lambda p: None, ["config.yaml"])
    special("directory", lambda p: p.mkdir(), ["config.yaml"])
    special("fifo", lambda p: os.mkfifo(p), ["config.yaml"])
    # controls: the tiny config itself and a YAML with a small legitimate alias must train
    cases.append(Case(2, "control:tiny-config", lambda d: train(d), expect="accept", check=fx.trained_check))
    cases.append(Case(2, "control:yaml-small-alias", lambda d: (
        (d / "c.yaml").write_text(fx.config.read_text().replace("  train_subjects: [1, 2]",
                                                                "  train_subjects: &s [1, 2]").replace(
            "  test_subjects: [1, 2]", "  test_subjects: *s")), train(d, config=d / "c.yaml"))[1],
        expect="accept", check=fx.trained_check))
    return cases
