"""One training run: stable-baselines3 (PPO, SAC) on the env the validated configs choose
(learning/TableTennis-v0 unless rl_common_config names another env plug-in).

:func:`learning.training.train.train` builds or continues the model, learns with the
callbacks (stop on a signal, NaN guard, episode log), saves atomically, evaluates, and
records the run (run_info.json, configs/, progress.csv, evaluation.json).
"""
