"""Training: one idea a module.

config     TrainConfig, the run's plain data (saved in checkpoints)
presets    every preset, and run_config: a run's config from kind, preset, options, base model
kinds      the registry kind -> trainer class
base       the Trainer base class and what trainers share (preview grid, unwrap)
cyclegan, cut, pix2pix, vae, flow    one trainer per kind; latent_trainer: what vae and flow share
loop       the step loop and its Hook protocol; hooks: checkpoints, loss log, progress,
           previews, run.json; publish: the card and the store
job        train_job: a new, resumed or fine-tuned run, driven through the loop
runs       run folders and their state; checkpoint: atomic, code-free checkpoint files
data, folders, losses, distributed, bench    data sets, folder scans, losses, DDP, step timing
"""
