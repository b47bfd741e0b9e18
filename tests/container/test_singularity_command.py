"""run_singularity.py: job parameters, settings validation and the command it builds.

No Singularity/Apptainer runtime exists on the test machine; these tests only look at
the argument list and environment the wrapper would hand to it (nothing is executed).
"""

import json
import os
import pathlib
import stat

import pytest

from learning.container.settings import (
    SingularitySettingsError,
    read_job_arguments,
    singularity_section,
)
from learning.container.wrapper import container_environment, prepare

FAKE = pathlib.Path(__file__).with_name("fake_singularity")


def make_executable(path: pathlib.Path, text: str = "#!/bin/sh\nexit 0\n") -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project dir (the wrapper's cwd) with an inner script, an image and a bin dir."""
    project = tmp_path / "project"
    make_executable(project / "inner.sh")
    image = tmp_path / "images" / "lttfs.sif"
    image.parent.mkdir()
    image.write_bytes(b"not a real image")
    bindir = tmp_path / "bin"
    make_executable(bindir / "singularity")
    monkeypatch.chdir(project)
    return {"dir": project, "image": image, "bin": bindir, "tmp": tmp_path}


def cluster_argv(params: dict) -> list[str]:
    """The command line cluster_utils 3.0 gives a job script (see Job.generate_execution_cmd)."""
    return [
        "run_singularity.py", "--job-id=7", "--cluster-utils-server=127.0.0.1:4242",
        "--parameter-dict", str(params),
    ]


def base_params(project, **singularity):
    params = {
        "working_dir": str(project["tmp"] / "results" / "job 7"),
        "id": 7,
        "singularity.image": str(project["image"]),
        "singularity.script": "inner.sh",
        "singularity.executable": str(project["bin"] / "singularity"),
    }
    params.update({f"singularity.{k}": v for k, v in singularity.items()})
    return params


def build(project, params, env=None):
    job = read_job_arguments(cluster_argv(params))
    env = {"PATH": str(project["bin"])} if env is None else env
    return prepare(job, project["dir"], env)


def error_of(project, params, env=None) -> str:
    with pytest.raises(SingularitySettingsError) as info:
        build(project, params, env)
    return str(info.value)


def test_default_command_binds_tmp_working_and_project_dir(project):
    params = base_params(project)
    argv = cluster_argv(params)
    cmd, env, working_dir = build(project, params)
    proj = str(project["dir"])
    assert working_dir == project["tmp"] / "results" / "job 7"
    assert cmd == [
        str(project["bin"] / "singularity"), "exec",
        "--bind", "/tmp", "--bind", str(working_dir), "--bind", proj,
        "--cleanenv", "--containall", "--pwd", proj,
        str(project["image"]), str(project["dir"] / "inner.sh"),
        *argv[1:],  # the original arguments, unchanged, for the inner script
    ]
    assert env["SINGULARITYENV_PYTHONPATH"] == proj


def test_nested_and_dotted_settings_are_equivalent(project):
    dotted = base_params(project, nv=True, args=["--writable-tmpfs"])
    nested = {k: v for k, v in dotted.items() if not k.startswith("singularity.")}
    nested["singularity"] = {k.split(".", 1)[1]: v for k, v in dotted.items()
                             if k.startswith("singularity.")}
    cmd_dotted = build(project, dotted)[0]
    cmd_nested = build(project, nested)[0]
    # only the pass-through parameter dict differs
    assert cmd_dotted[:-1] == cmd_nested[:-1]
    assert "--nv" in cmd_nested and "--writable-tmpfs" in cmd_nested


def test_mixed_forms_with_conflicting_values_are_rejected(project):
    params = base_params(project)
    params["singularity"] = {"image": "/elsewhere.sif"}
    assert "singularity.image: given twice" in error_of(project, params)
    params["singularity"] = {"image": str(project["image"])}  # same value: fine
    assert singularity_section(read_job_arguments(cluster_argv(params)).params)["image"]


def test_nv_binds_args_and_run(project):
    extra = project["tmp"] / "data set"
    extra.mkdir()
    params = base_params(project, nv=True, binds=[f"{extra}:/data:ro"],
                         args=["--writable-tmpfs", "--no-home"], use_run=True)
    cmd = build(project, params)[0]
    assert cmd[1] == "run"
    assert cmd[2] == "--nv"
    binds = [cmd[i + 1] for i, part in enumerate(cmd) if part == "--bind"]
    assert binds[-1] == f"{extra}:/data:ro" and len(binds) == 4
    image_at = cmd.index(str(project["image"]))
    assert cmd[image_at - 2:image_at] == ["--writable-tmpfs", "--no-home"]


def test_paths_with_spaces_and_quotes_stay_single_arguments(project, tmp_path):
    odd = tmp_path / "it's a \"dir\""
    image = odd / "my image.sif"
    odd.mkdir()
    image.write_bytes(b"x")
    make_executable(project["dir"] / "sub dir" / "inner 'job'.sh")
    params = base_params(project, image=str(image), script="sub dir/inner 'job'.sh")
    params["working_dir"] = str(odd / "job 'seven'")
    params["note"] = "a \"quoted\" value with 'both' kinds"
    cmd, _, working_dir = build(project, params)
    assert str(image) in cmd
    assert str(project["dir"] / "sub dir" / "inner 'job'.sh") in cmd
    assert cmd[cmd.index(str(working_dir)) - 1] == "--bind"
    passed = cmd[-1]  # the --parameter-dict value, byte for byte
    assert passed == cluster_argv(params)[-1]
    assert read_job_arguments(["x", "--parameter-dict", passed]).params["note"] == params["note"]


def test_image_tilde_is_expanded(project, monkeypatch):
    monkeypatch.setenv("HOME", str(project["image"].parent))
    cmd = build(project, base_params(project, image="~/lttfs.sif"))[0]
    assert str(project["image"]) in cmd


@pytest.mark.parametrize("key", ["image", "script"])
def test_missing_required_setting_is_named(project, key):
    params = base_params(project)
    del params[f"singularity.{key}"]
    assert f"singularity.{key}: missing (required)" in error_of(project, params)


def test_missing_image_file(project):
    message = error_of(project, base_params(project, image="~/nope/lttfs.sif"))
    assert message.startswith("singularity.image:") and "does not exist" in message


def test_script_must_exist_and_be_executable(project):
    message = error_of(project, base_params(project, script="missing.py"))
    assert message.startswith("singularity.script:") and "not a file" in message
    (project["dir"] / "plain.sh").write_text("echo hi\n")
    message = error_of(project, base_params(project, script="plain.sh"))
    assert message.startswith("singularity.script:") and "not executable" in message


def test_python_script_without_executable_bit_runs_with_the_images_python(project):
    (project["dir"] / "plain.py").write_text("print('hi')\n")
    params = base_params(project, script="plain.py")
    cmd = build(project, params)[0]
    image_at = cmd.index(str(project["image"]))
    assert cmd[image_at + 1:image_at + 3] == ["python3", str(project["dir"] / "plain.py")]
    assert cmd[image_at + 3:] == cluster_argv(params)[1:]


def test_executable_defaults_to_whichever_is_on_path(project):
    params = base_params(project)
    del params["singularity.executable"]
    cmd, env, _ = build(project, params)
    assert cmd[0] == str(project["bin"] / "singularity")
    only_apptainer = project["tmp"] / "apptainer-bin"
    make_executable(only_apptainer / "apptainer")
    cmd, env, _ = build(project, params, {"PATH": str(only_apptainer)})
    assert cmd[0] == str(only_apptainer / "apptainer")
    assert env["APPTAINERENV_PYTHONPATH"] == str(project["dir"])
    assert "SINGULARITYENV_PYTHONPATH" not in env


def test_neither_runtime_on_path_is_a_clear_error(project):
    params = base_params(project)
    del params["singularity.executable"]
    empty = project["tmp"] / "empty"
    empty.mkdir()
    message = error_of(project, params, {"PATH": str(empty)})
    assert message.startswith("singularity.executable: neither singularity nor apptainer")


def test_executable_that_does_not_exist(project):
    message = error_of(project, base_params(project, executable="/no/such/apptainer"))
    assert message.startswith("singularity.executable:") and "valid: singularity" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("nv", "yes", "singularity.nv: must be true or false"),
        ("use_run", 1, "singularity.use_run: must be true or false"),
        ("args", "--nv", "singularity.args: must be a list"),
        ("binds", "/tmp", "singularity.binds: must be a list"),
        ("binds", ["/no/such/dir:/data"], "the host path /no/such/dir does not exist"),
        ("binds", ["/tmp,/var"], "one bind per list item"),
        ("imgae", "x", "singularity.imgae: unknown setting; valid: image, script"),
    ],
)
def test_wrong_settings_are_named(project, key, value, expected):
    assert expected in error_of(project, base_params(project, **{key: value}))


def test_working_dir_with_a_colon_cannot_be_bound(project):
    params = base_params(project)
    params["working_dir"] = str(project["tmp"] / "a:b")
    message = error_of(project, params)
    assert "working_dir" in message and "':'" in message


def test_missing_working_dir(project):
    params = base_params(project)
    del params["working_dir"]
    assert error_of(project, params).startswith("working_dir: missing")


def test_standalone_settings_file_and_overwrites(project, tmp_path):
    settings_dir = tmp_path / "settings dir"
    settings_dir.mkdir()
    settings = settings_dir / "settings.json"
    settings.write_text(json.dumps({
        "working_dir": str(tmp_path / "wd"),
        "singularity": {"image": str(project["image"]), "script": "inner.sh",
                        "executable": str(project["bin"] / "singularity"), "nv": False},
    }))
    argv = ["run_singularity.py", str(settings), "singularity.nv=True"]
    job = read_job_arguments(argv)
    assert job.parameter_file == settings
    cmd = prepare(job, project["dir"], {"PATH": str(project["bin"])})[0]
    assert "--nv" in cmd
    binds = [cmd[i + 1] for i, part in enumerate(cmd) if part == "--bind"]
    assert any(settings.is_relative_to(b) for b in binds)  # the file is visible inside
    assert cmd[-2:] == [str(settings), "singularity.nv=True"]


def test_missing_settings_file(project):
    with pytest.raises(SingularitySettingsError, match="settings file does not exist"):
        read_job_arguments(["run_singularity.py", "nowhere.json"])


def test_environment_passes_thread_counts_not_the_host_pythonpath(project):
    params = base_params(project)
    host = {"PATH": str(project["bin"]), "OMP_NUM_THREADS": "2", "MUJOCO_GL": "egl",
            "CUDA_VISIBLE_DEVICES": "0,1", "PYTHONPATH": "/host/venv/lib"}
    _, env, _ = build(project, params, host)
    assert env["SINGULARITYENV_OMP_NUM_THREADS"] == "2"
    assert env["SINGULARITYENV_MUJOCO_GL"] == "egl"
    assert env["SINGULARITYENV_CUDA_VISIBLE_DEVICES"] == "0,1"
    assert env["SINGULARITYENV_PYTHONPATH"] == str(project["dir"])
    assert env["PATH"] == host["PATH"]  # the runtime itself runs with the host env
    assert "SINGULARITYENV_MKL_NUM_THREADS" not in env


def test_environment_prefix_follows_the_executable_name(project):
    from learning.container.settings import SingularitySettings

    settings = SingularitySettings(image=project["image"], script=project["dir"],
                                   script_command=[], executable="/opt/apptainer/bin/apptainer")
    env = container_environment(settings, project["dir"], {"OMP_NUM_THREADS": "1"})
    assert env["APPTAINERENV_OMP_NUM_THREADS"] == "1"
    assert os.environ.get("APPTAINERENV_OMP_NUM_THREADS") is None  # host env untouched


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--parameter-dict", "[1, 2]"], "--parameter-dict: a list, not a dict"),
        (["--parameter-dict", "{'a': open('x')}"], "--parameter-dict: a call \"open('x')\""),
        (["--parameter-dict", "{'a': np.int64(8)"], "--parameter-dict: not a Python dict"),
        (["--job-id", "x", "s.json"], "invalid int value"),
    ],
)
def test_bad_command_lines_exit_1_with_a_message(project, capsys, argv, expected):
    from learning.container.wrapper import main

    assert main(["run_singularity.py", *argv]) == 1
    assert expected in capsys.readouterr().err


def test_main_reports_a_settings_error_with_exit_code_1(project, capsys):
    from learning.container.wrapper import main

    params = base_params(project)
    del params["singularity.image"]
    assert main(cluster_argv(params)) == 1
    err = capsys.readouterr().err
    assert "run_singularity: settings error: singularity.image: missing" in err


def test_script_and_settings_file_outside_the_bound_dirs_get_their_dir_bound(tmp_path):
    from learning.container.settings import SingularitySettings
    from learning.container.wrapper import bind_paths

    settings = SingularitySettings(image=tmp_path, script=pathlib.Path("/opt/jobs/job.sh"),
                                   script_command=[], executable="singularity",
                                   binds=["/data:/data:ro"])
    binds = bind_paths(settings, tmp_path / "wd", tmp_path,
                       pathlib.Path("/srv/settings/s.json"))
    assert binds == ["/tmp", str(tmp_path / "wd"), str(tmp_path), "/srv/settings",
                     "/opt/jobs", "/data:/data:ro"]
    inside = SingularitySettings(image=tmp_path, script=tmp_path / "sub" / "job.sh",
                                 script_command=[], executable="singularity")
    assert bind_paths(inside, tmp_path / "wd", tmp_path, None) == [
        "/tmp", str(tmp_path / "wd"), str(tmp_path)]
