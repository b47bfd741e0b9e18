"""The files one wing writes and another reads back, one typed reader per format:
a job's restart state (job_state), its intermediate record (intermediate), a sweep's
failed jobs (failed_jobs), a stable-baselines3 model zip's ``data`` (model_zip), and
cluster_utils' pickles read without running code (safe_pickle); a job's folder with its
run folders as the analysis and the policy playback read it (job_folder); typed_json
turns parsed JSON into their dataclasses."""
