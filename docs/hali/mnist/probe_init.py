"""The linear-probe baseline of an untrained encoder: `tfgen probe`'s study on a freshly built model
(CONFIG, train.seed SEED, no training step), written to OUT. Usage: probe_init.py CONFIG SEED OUT."""
import json, sys
import keras
from tfgen import config as config_lib
from tfgen.models import build_model
from tfgen.evaluation.probes import probe_study
path, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cfg = config_lib.load_config(path, [f"train.seed={seed}"])
keras.utils.set_random_seed(seed)
model = build_model(cfg)
report = probe_study(("untrained", cfg, model, 0), max_train=4000, max_test=1000)
json.dump(report, open(out, "w"), indent=1, default=str)
print(json.dumps(report["summary"]))
