"""learning/TableTennis-v0's observation and action vectors: length and dtype. The env
builds its spaces from these (table_tennis_v0), its plug-in declares them to the config
checks (table_tennis_plugin), which size stable-baselines3's buffers without a simulation."""

OBSERVATION_SIZE, OBSERVATION_DTYPE = 22, "float64"
ACTION_SIZE, ACTION_DTYPE = 8, "float32"
