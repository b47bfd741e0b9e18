"""Table tennis with a 4-DOF arm driven by pneumatic artificial muscles (MuJoCo)."""

from __future__ import annotations

import math
from importlib import resources

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from learning.config.checks import ConfigError
from learning.envs.rewards import episode_reward
from learning.envs.table_tennis_roles import load_default, validate_env_roles
from learning.envs.table_tennis_spaces import (
    ACTION_DTYPE,
    ACTION_SIZE,
    OBSERVATION_DTYPE,
    OBSERVATION_SIZE,
)

SCENE_FILE = "table_tennis_scene.xml"
JOINTS = ("shoulder_yaw", "shoulder_pitch", "elbow", "wrist")
MUSCLES = tuple(f"{j}_{side}" for j in JOINTS for side in ("agonist", "antagonist"))
BALL_RADIUS = 0.02  # m, ITTF ball (40 mm diameter); must match the scene's ball geom
SETTLE_SECONDS = 3.0  # simulated time for the arm to come to rest under reference_posture
# Hit detection from the ball's velocity: a change of more than this (m/s) in one control
# step, beyond what gravity explains, while the ball passes the racket, is a hit. Air drag
# changes the speed by < 0.15 m/s per 20 ms at 8 m/s; a racket touch by > 1 m/s.
HIT_DELTA_V = 0.5
HIT_MARGIN = 0.02  # m added to racket radius + ball radius for the "passes the racket" test

OBS_NAMES = (
    [f"{j}_angle" for j in JOINTS]
    + [f"{j}_velocity" for j in JOINTS]
    + [f"{m}_pressure" for m in MUSCLES]
    + ["ball_x", "ball_y", "ball_z", "ball_vx", "ball_vy", "ball_vz"]
)



class TableTennisEnv(gym.Env):
    r"""Return a launched ball with a 4-DOF arm driven by 8 pneumatic muscles.

    ## Description
    A simulated version of the original project's setting (Pamy robots, MPI-IS): a ball is
    launched from behind the far end of an ITTF table, bounces once on the robot's half and
    flies past a 4-degree-of-freedom arm holding a racket. Every joint is driven by an
    antagonistic pair of pneumatic artificial muscles (PAMs); the agent changes their
    pressures. The goal is to hit the ball and return it to ``target_position``.
    One episode is one ball.

    ## Coordinates
    Metres, right-handed world frame: **x** across the table, **y** along the table toward
    the opponent, **z** up; the floor is z = 0.
    - ``table_position``: centre of the table's playing surface (top face); the table is
      2.74 m long (y) and 1.525 m wide (x), the net (15.25 cm) crosses it at that y.
    - ``robot_position``: the arm's shoulder (intersection of the yaw and pitch axes).
    - ``target_position``: the point the returned ball should pass closest to.

    At zero joint angles the arm points straight up; the pitch joints (shoulder_pitch,
    elbow, wrist) turn about -x, so positive angles lean toward the table (+y);
    shoulder_yaw turns about +z. The racket head is a disc of 15 cm diameter, 17.5 cm
    beyond the wrist along the last link, its face normal along the pitch plane's normal
    to the link (i.e. facing +-y when the racket is vertical).

    ## Muscle model (pam_config)
    Muscle pressures p (bar) are the MuJoCo controls of 8 ``general`` actuators with affine
    gain, so the torque is evaluated inside MuJoCo at every physics substep. For joint i
    with angle q (rad), agonist pressure p_a and antagonist pressure p_b:

    $$\tau_i = G^{ago}_i p_a - G^{antago}_i p_b - k_i (p_a + p_b) (q - q^0_i) - d_i \dot q$$

    where G = ``torque_per_bar_ago/antago`` (N m/bar), k = ``stiffness_per_bar``
    (N m/rad/bar), q^0 = ``neutral_angles`` (rad), d = ``joint_damping`` (N m s/rad).
    Each muscle only pulls: the agonist's force (G^ago - k (q - q^0)) p_a and the
    antagonist's (G^antago + k (q - q^0)) p_b are clamped at 0 from below (this matters only
    far from q^0). The pressure difference sets the net torque and the pressure sum the
    joint stiffness (co-contraction), as in real PAMs; at equal gains the joint rests where
    q - q^0 = G (p_a - p_b) / (k (p_a + p_b)) (plus the sag from gravity). Gravity acts on
    the arm (links of 0.1-0.4 kg). Pressures are set instantly (valve dynamics are not
    modelled) and clipped to [min_pressures, max_pressures] (8 values each, action order).
    With the defaults (config/pam.json), full opposite pressure changes on one joint move
    the racket from rest by 0.15-0.5 m within 0.2 s (wrist least, shoulder yaw most).

    ## Action Space
    ``Box(-1, 1, (8,), float32)``: pressure change per muscle, in units of
    ``hysr_config.pressure_change_range`` (bar per control step). Order: for each joint
    (shoulder_yaw, shoulder_pitch, elbow, wrist) agonist then antagonist:

    | Num | Action: pressure change of muscle | Min | Max | Actuator (MJCF)           | Unit |
    |-----|-----------------------------------|-----|-----|---------------------------|------|
    | 0   | shoulder yaw agonist              | -1  | 1   | shoulder_yaw_agonist      | pcr  |
    | 1   | shoulder yaw antagonist           | -1  | 1   | shoulder_yaw_antagonist   | pcr  |
    | 2   | shoulder pitch agonist            | -1  | 1   | shoulder_pitch_agonist    | pcr  |
    | 3   | shoulder pitch antagonist         | -1  | 1   | shoulder_pitch_antagonist | pcr  |
    | 4   | elbow agonist                     | -1  | 1   | elbow_agonist             | pcr  |
    | 5   | elbow antagonist                  | -1  | 1   | elbow_antagonist          | pcr  |
    | 6   | wrist agonist                     | -1  | 1   | wrist_agonist             | pcr  |
    | 7   | wrist antagonist                  | -1  | 1   | wrist_antagonist          | pcr  |

    pcr: ``pressure_change_range`` bar; the new pressure is
    ``clip(p + pressure_change_range * action, min_pressures, max_pressures)``.
    Actions outside [-1, 1] are clipped.

    ## Observation Space
    ``Box(-inf, inf, (22,), float64)`` (names in ``OBS_NAMES``), all in the world frame:

    | Num   | Observation                                     | Unit  | MJCF element       |
    |-------|-------------------------------------------------|-------|--------------------|
    | 0-3   | joint angles: shoulder_yaw, shoulder_pitch, elbow, wrist | rad | joints      |
    | 4-7   | joint angular velocities, same order            | rad/s | joints             |
    | 8-15  | muscle pressures, action order                  | bar   | actuators (ctrl)   |
    | 16-18 | ball position x, y, z                           | m     | ball_free          |
    | 19-21 | ball linear velocity x, y, z                    | m/s   | ball_free          |

    ## Rewards
    Sparse, as in the original project (``learning.envs.rewards``): 0 at every step but the
    episode's last, which gets
    - no hit: ``-min_distance_ball_racket``;
    - hit: ``max(1 - (min_distance_ball_target / normalization_constant) ** 0.75, rtt_cap)``;
    - hit with ``smash``: ``max((1 - (d / c) ** 0.75) * max_ball_velocity, rtt_cap)``.

    ``min_distance_ball_racket``: closest approach of ball centre and racket-head centre over
    the episode; ``min_distance_ball_target``: closest approach of the ball centre to
    ``target_position`` after the hit; ``max_ball_velocity``: largest ball speed after the hit.
    Distances are sampled once per control step against the segment between the ball's
    consecutive positions (so a fast ball cannot jump over the closest point).

    **Hit detection.** ``mj_step`` runs all substeps of a control step in one call, so a
    ball-racket contact that starts and ends between two control steps is not visible in
    ``data.contact`` afterwards. A step counts as a hit if (a) a ball-racket contact is
    active after the step, or (b) the ball's segment passes within racket radius + ball
    radius + 2 cm of the racket centre and its velocity changed by more than 0.5 m/s beyond
    what gravity explains. (The only other collisions of the ball are with the table and the
    net; a racket touching the table surface while the ball bounces there could be miscounted.)

    ``info`` at the last step holds ``hit`` (bool), ``min_distance_ball_racket`` (m),
    ``min_distance_ball_target`` (m, None without hit), ``max_ball_velocity`` (m/s, after the
    hit; 0.0 without hit), ``reward_terms`` (dict from ``learning.envs.rewards.episode_reward``),
    ``hit_step`` (control step of the first hit or None), ``hit_position`` (the ball's
    position at that step, m, or None), ``ball_position`` (where the episode ended: for
    "bounced_after_hit" where the return landed), ``episode_steps``,
    ``end_reason`` (see Episode End) and ``launch``
    (launch position and velocity). Other steps return an empty ``info``.

    ## Starting State
    At construction the arm settles for 3 s (simulated) under the ``reference_posture``
    pressures, starting from ``neutral_angles``; its joint angles are cached. Every reset
    puts the arm at that cached posture with zero velocity and sets the pressures to
    ``starting_pressures`` (so with starting == reference the arm starts at rest).
    The ball starts at a launch position and velocity drawn uniformly from
    ``ball_launch_position_min/max`` and ``ball_launch_velocity_min/max`` (no spin):
    with ``trajectory`` N >= 0 the draw comes from a generator seeded with N (launch N,
    identical in every episode and every process); with -1 from the env's ``np_random``
    (seeded by ``reset(seed=...)``), a new one each episode.

    ## Episode End
    Termination when
    - the ball has passed the robot (its y < robot_position y): "passed_robot";
    - the ball has left the box ``world_boundaries`` (min/max per axis): "out_of_bounds";
    - after a hit, the ball bounced (its vertical velocity turned from down to up, by more
      than 0.5 m/s, while it was away from the racket; on the table or the net):
      "bounced_after_hit". A return's
      closest approach to a target on the table is at or before that bounce.

    Truncation after ``nb_steps_per_episode`` control steps if that is > 0 ("time_limit";
    a ball resting on the racket ends only this way).

    ## Arguments
    ``TableTennisEnv(reward_config=None, hysr_config=None, pam_config=None,
    render_mode=None)`` with plain dicts (the files config/reward.json, hysr.json,
    pam.json; a role left out or None is the shipped default), or
    ``gymnasium.make("learning/TableTennis-v0")`` with the same keyword arguments. The
    configs pass the same checks as the learner's (learning.envs.table_tennis_roles): a bad
    value raises ``learning.config.ConfigError`` (a ValueError) naming the role and the key.
    ``mujoco_time_step`` is the physics step (s) and ``algo_time_step`` the control step
    (s), an integer multiple of it; each ``step()`` is exactly one
    ``mujoco.mj_step(model, data, nstep=algo_time_step / mujoco_time_step)`` call.
    ``render_mode="rgb_array"`` renders 480x640 frames from the "side" camera with
    ``mujoco.Renderer`` (headless: set ``MUJOCO_GL=egl`` or ``osmesa``).

    ## Version History
    * v0: first version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        reward_config: dict | None = None,
        hysr_config: dict | None = None,
        pam_config: dict | None = None,
        render_mode: str | None = None,
    ):
        roles = {
            "reward_config": reward_config,
            "hysr_config": hysr_config,
            "pam_config": pam_config,
        }
        roles = {
            role: load_default(role) if value is None else _plain_dict(value, role)
            for role, value in roles.items()
        }
        validate_env_roles(roles, {role: f"{role} (argument)" for role in roles})
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode: {render_mode!r} is not supported; valid: None, 'rgb_array'"
            )
        self.render_mode = render_mode
        self.reward_config = roles["reward_config"]
        self.hysr_config = roles["hysr_config"]
        self.pam_config = roles["pam_config"]
        h, p = self.hysr_config, self.pam_config

        physics_dt = float(h["mujoco_time_step"])
        control_dt = float(h["algo_time_step"])
        self.substeps = int(round(control_dt / physics_dt))
        self.dt = control_dt
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / control_dt))}

        self._p_min = np.array(p["min_pressures"], dtype=float)
        self._p_max = np.array(p["max_pressures"], dtype=float)
        self._start_pressures = np.array(h["starting_pressures"], dtype=float).ravel()
        self._reference_pressures = np.array(h["reference_posture"], dtype=float).ravel()
        self._pressure_step = float(h["pressure_change_range"])
        self._robot_position = _vector(h["robot_position"])
        self._target = _vector(h["target_position"])
        self._bounds_min = _vector(h["world_boundaries"]["min"])
        self._bounds_max = _vector(h["world_boundaries"]["max"])
        self._launch_ranges = tuple(
            np.array(h[f"ball_launch_{kind}_{end}"], dtype=float)
            for kind in ("position", "velocity") for end in ("min", "max")
        )
        self._trajectory = int(h["trajectory"])
        self._max_steps = int(h["nb_steps_per_episode"])

        self.model = _build_model(h, p, physics_dt)
        self.data = mujoco.MjData(self.model)
        self._bind_views()
        self._settled_arm_qpos = self._settle()

        self.action_space = spaces.Box(-1.0, 1.0, shape=(ACTION_SIZE,), dtype=ACTION_DTYPE)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(OBSERVATION_SIZE,),
                                            dtype=OBSERVATION_DTYPE)
        self._renderer = None
        self._reset_episode_stats()

    # ----------------------------------------------------------------------------- setup
    def _bind_views(self) -> None:
        m, d = self.model, self.data
        ball_joint = m.joint("ball_free")
        qa, va = int(ball_joint.qposadr[0]), int(ball_joint.dofadr[0])
        arm_qadr = [int(m.joint(j).qposadr[0]) for j in JOINTS]
        arm_vadr = [int(m.joint(j).dofadr[0]) for j in JOINTS]
        if arm_qadr != [0, 1, 2, 3] or arm_vadr != [0, 1, 2, 3] or (qa, va) != (4, 4):
            raise RuntimeError("unexpected MJCF joint order; the arm joints must come first")
        if [m.actuator(i).name for i in range(m.nu)] != list(MUSCLES):
            raise RuntimeError("unexpected MJCF actuator order")
        self._arm_q, self._arm_qd = d.qpos[0:4], d.qvel[0:4]
        self._ball_q, self._ball_qd = d.qpos[qa:qa + 7], d.qvel[va:va + 6]
        self._pressures = d.ctrl  # the pressures are the controls (a view, no copy)
        # positions from the last substep's kinematics (both at the same instant)
        self._ball_xpos = d.xpos[m.body("ball").id]
        self._racket_xpos = d.site_xpos[m.site("racket_center").id]
        self._racket_geom = m.geom("racket_head").id
        self._hit_radius = float(m.geom_size[self._racket_geom][0]) + BALL_RADIUS + HIT_MARGIN
        self._gravity_dv_z = float(m.opt.gravity[2]) * self.dt
        self._obs = np.zeros(22)
        self._delta = np.zeros(8)
        self._step_limit = np.full(8, self._pressure_step)
        self._neg_step_limit = -self._step_limit

    def _settle(self) -> np.ndarray:
        """Let the arm come to rest under reference_posture; return its joint angles."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        self._arm_q[:] = np.asarray(self.pam_config["neutral_angles"], dtype=float)
        self._ball_q[:3] = (0.0, 0.0, -10.0)  # parked far below everything it could touch
        self._ball_q[3:] = (1.0, 0.0, 0.0, 0.0)
        self._pressures[:] = self._reference_pressures
        mujoco.mj_step(m, d, nstep=int(round(SETTLE_SECONDS / m.opt.timestep)))
        return self._arm_q.copy()

    # ------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        position, velocity = self._draw_launch()
        self._arm_q[:] = self._settled_arm_qpos
        self._ball_q[:3] = position
        self._ball_q[3:] = (1.0, 0.0, 0.0, 0.0)
        self._ball_qd[:3] = velocity
        self._pressures[:] = self._start_pressures
        mujoco.mj_forward(m, d)
        self._reset_episode_stats()
        self._launch = {"position": position.tolist(), "velocity": velocity.tolist()}
        self._prev_ball = self._ball_xpos.tolist()
        self._prev_vel = self._ball_qd[:3].tolist()
        self._update_racket_distance(self._prev_ball)
        return self._observation(), {"launch": self._launch}

    def step(self, action):
        delta, p = self._delta, self._pressures
        np.multiply(action, self._pressure_step, out=delta)
        np.minimum(delta, self._step_limit, out=delta)
        np.maximum(delta, self._neg_step_limit, out=delta)
        p += delta
        np.minimum(p, self._p_max, out=p)
        np.maximum(p, self._p_min, out=p)

        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self._steps += 1

        ball = self._ball_xpos.tolist()
        vel = self._ball_qd[:3].tolist()
        dist_racket = self._update_racket_distance(ball)
        if not self._hit and (
            self._racket_contact() or self._velocity_jump(vel, dist_racket)
        ):
            self._hit = True
            self._hit_step = self._steps
            self._hit_position = list(ball)
            self._min_dist_target = _distance(ball, self._target)
        elif self._hit:
            d_target = _segment_distance(self._prev_ball, ball, self._target)
            if d_target < self._min_dist_target:
                self._min_dist_target = d_target
        bounced = False
        if self._hit:
            speed = math.sqrt(vel[0] * vel[0] + vel[1] * vel[1] + vel[2] * vel[2])
            if speed > self._max_speed:
                self._max_speed = speed
            # after the hit, a fall turned into a rise away from the racket is a bounce
            prev_vz = self._prev_vel[2]
            bounced = (
                self._hit_step < self._steps
                and prev_vz < 0.0 <= vel[2]
                and vel[2] - prev_vz > HIT_DELTA_V
                and dist_racket > self._hit_radius
            )
        self._prev_ball, self._prev_vel = ball, vel

        end_reason = "bounced_after_hit" if bounced else self._end_reason()
        terminated = end_reason is not None
        truncated = not terminated and 0 < self._max_steps <= self._steps
        if truncated:
            end_reason = "time_limit"
        if terminated or truncated:
            reward, info = self._final_reward(end_reason)
        else:
            reward, info = 0.0, {}
        return self._observation(), reward, terminated, truncated, info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, height=480, width=640)
        self._renderer.update_scene(self.data, camera="side")
        return self._renderer.render()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ------------------------------------------------------------------------ episode
    def _reset_episode_stats(self) -> None:
        self._steps = 0
        self._hit = False
        self._hit_step = None
        self._hit_position = None
        self._min_dist_racket = math.inf
        self._min_dist_target = math.inf
        self._max_speed = 0.0
        self._prev_ball = [0.0, 0.0, 0.0]
        self._prev_vel = [0.0, 0.0, 0.0]
        self._launch = None

    def _draw_launch(self) -> tuple[np.ndarray, np.ndarray]:
        rng = self.np_random if self._trajectory < 0 else np.random.default_rng(self._trajectory)
        p_min, p_max, v_min, v_max = self._launch_ranges
        return rng.uniform(p_min, p_max), rng.uniform(v_min, v_max)

    def _observation(self) -> np.ndarray:
        obs = self._obs
        obs[0:4] = self._arm_q
        obs[4:8] = self._arm_qd
        obs[8:16] = self._pressures
        obs[16:19] = self._ball_q[:3]
        obs[19:22] = self._ball_qd[:3]
        return obs.copy()  # callers may keep observations; the buffer is reused

    def _update_racket_distance(self, ball: list) -> float:
        racket = self._racket_xpos.tolist()
        dist = _segment_distance(self._prev_ball, ball, racket)
        if dist < self._min_dist_racket:
            self._min_dist_racket = dist
        return dist

    def _racket_contact(self) -> bool:
        d = self.data
        if d.ncon == 0:
            return False
        geoms = d.contact.geom[: d.ncon]
        return bool((geoms == self._racket_geom).any())

    def _velocity_jump(self, vel: list, dist_racket: float) -> bool:
        if dist_racket > self._hit_radius:
            return False
        prev = self._prev_vel
        dx, dy = vel[0] - prev[0], vel[1] - prev[1]
        dz = vel[2] - prev[2] - self._gravity_dv_z
        return dx * dx + dy * dy + dz * dz > HIT_DELTA_V * HIT_DELTA_V

    def _end_reason(self) -> str | None:
        x, y, z = self._ball_q[:3].tolist()
        if y < self._robot_position[1]:
            return "passed_robot"
        lo, hi = self._bounds_min, self._bounds_max
        if not (lo[0] <= x <= hi[0] and lo[1] <= y <= hi[1] and lo[2] <= z <= hi[2]):
            return "out_of_bounds"
        return None

    def _final_reward(self, end_reason: str) -> tuple[float, dict]:
        d_target = self._min_dist_target if self._hit else None
        reward, terms = episode_reward(
            self.reward_config, self._hit, self._min_dist_racket, d_target, self._max_speed
        )
        return reward, {
            "hit": self._hit,
            "min_distance_ball_racket": self._min_dist_racket,
            "min_distance_ball_target": d_target,
            "max_ball_velocity": self._max_speed,
            "reward_terms": terms,
            "hit_step": self._hit_step,
            "hit_position": self._hit_position,
            "ball_position": self._ball_q[:3].tolist(),
            "episode_steps": self._steps,
            "end_reason": end_reason,
            "launch": self._launch,
        }


# ----------------------------------------------------------------------------- helpers
def _distance(a, b) -> float:
    return math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2)


def _segment_distance(a, b, point) -> float:
    """Distance from ``point`` to the segment a-b (3-sequences of floats)."""
    sx, sy, sz = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    px, py, pz = point[0] - a[0], point[1] - a[1], point[2] - a[2]
    length2 = sx * sx + sy * sy + sz * sz
    t = 0.0 if length2 == 0.0 else min(1.0, max(0.0, (px * sx + py * sy + pz * sz) / length2))
    dx, dy, dz = px - t * sx, py - t * sy, pz - t * sz
    return math.sqrt(dx * dx + dy * dy + dz * dz)


def _vector(value) -> list:
    return [float(v) for v in value]


def _plain_dict(value, role: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{role} (argument)", "(top level)", f"is a {type(value).__name__}",
                          "a dict with the keys of the shipped default")
    return dict(value)


def _build_model(hysr: dict, pam: dict, physics_dt: float) -> mujoco.MjModel:
    """Compile the scene with positions, time step and muscle parameters from the
    (validated) configs."""
    assets = resources.files("learning.envs") / "assets"
    with resources.as_file(assets / SCENE_FILE) as scene_path:
        spec = mujoco.MjSpec.from_file(str(scene_path))
    spec.option.timestep = physics_dt
    spec.body("robot_base").pos = _vector(hysr["robot_position"])
    spec.body("table").pos = _vector(hysr["table_position"])
    spec.site("target").pos = _vector(hysr["target_position"])
    p_min, p_max = pam["min_pressures"], pam["max_pressures"]
    for i, joint in enumerate(JOINTS):
        k, q0 = float(pam["stiffness_per_bar"][i]), float(pam["neutral_angles"][i])
        g_ago = float(pam["torque_per_bar_ago"][i])
        g_antago = float(pam["torque_per_bar_antago"][i])
        spec.joint(joint).damping = [float(pam["joint_damping"][i]), 0.0, 0.0]
        # affine gain: force = (gainprm[0] + gainprm[1] * length) * pressure, where the
        # actuator length is gear * q: agonist (gear 1) (G + k q0 - k q) p,
        # antagonist (gear -1) (G - k q0 + k q) p, applied with the gear's sign.
        agonist = spec.actuator(f"{joint}_agonist")
        antagonist = spec.actuator(f"{joint}_antagonist")
        agonist.gainprm = [g_ago + k * q0, -k] + [0.0] * 8
        antagonist.gainprm = [g_antago - k * q0, -k] + [0.0] * 8
        agonist.ctrlrange = [float(p_min[2 * i]), float(p_max[2 * i])]
        antagonist.ctrlrange = [float(p_min[2 * i + 1]), float(p_max[2 * i + 1])]
    return spec.compile()
