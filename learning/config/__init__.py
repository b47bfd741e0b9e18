"""Loading and validation of the config roles: the only config checks.

The learner (:func:`load_configs`), the job and the sweep's pre-flight
(:func:`merge_and_validate`) all run these checks, so a bad value is the same config
error, naming the file and the dotted key, wherever it is found. The roles of the env a
config chooses are checked by its plug-in (learning.plugins.envs; the table tennis's, which
its env runs too: learning.envs.table_tennis_roles).
"""

from learning.config.addressing import (
    ParameterError,
    apply_overrides,
    collect_overrides,
    parse_address,
)
from learning.config.checks import ConfigError, json_kind, read_json_object
from learning.config.loading import (
    RunConfig,
    load_configs,
    merge_and_validate,
    read_role_files,
    validate_roles,
)
from learning.config.overrides import parse_overrides
from learning.config.rl import (
    ALGORITHMS,
    RL_COMMON_DEFAULTS,
    RL_VEC_ENV_DEFAULTS,
    rl_schema,
)
from learning.config.sb3_limits import algorithm_class

__all__ = [
    "ALGORITHMS",
    "ConfigError",
    "ParameterError",
    "RL_COMMON_DEFAULTS",
    "RL_VEC_ENV_DEFAULTS",
    "RunConfig",
    "algorithm_class",
    "apply_overrides",
    "collect_overrides",
    "json_kind",
    "load_configs",
    "merge_and_validate",
    "parse_address",
    "parse_overrides",
    "read_json_object",
    "read_role_files",
    "rl_schema",
    "validate_roles",
]
