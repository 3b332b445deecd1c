#!/usr/bin/env python3
"""The exercise files as committed in git HEAD, for `make test`.

`make test` checks that every exercise task, as handed out, fails its tests.
It must check the committed files, not the working tree, or a learner who
solved task 1 would see `make test` fail. Outside a git checkout (a source
tarball) the working tree is all there is, and is used instead.

    committed_exercises.py --source ROOT --dest DIR   copy exercises/ into DIR/exercises/
    committed_exercises.py --source ROOT --list PATH  print the files under PATH, one a line
"""
import argparse
import io
import os
import subprocess
import sys
import tarfile


def committed_files(root, prefix):
    """Maps path -> bytes for every file under `prefix` in HEAD (or on disk
    when `prefix` is not in HEAD, or there is no git)."""
    try:
        archive = subprocess.run(
            ["git", "-C", root, "archive", "--format=tar", "HEAD", prefix],
            check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return working_tree_files(root, prefix)
    files = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                files[member.name] = tar.extractfile(member).read()
    return files


def working_tree_files(root, prefix):
    files = {}
    for folder, _, names in os.walk(os.path.join(root, prefix)):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = f.read()
    return files


def write_if_changed(path, content):
    try:
        with open(path, "rb") as f:
            if f.read() == content:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--dest")
    parser.add_argument("--list")
    args = parser.parse_args()
    if args.list == "exercises":
        files = all_exercise_files(args.source)
    elif args.list:
        files = committed_files(args.source, args.list)
    if args.list:
        for path in sorted(files):
            print(path)
        return 0
    for path, content in all_exercise_files(args.source).items():
        write_if_changed(os.path.join(args.dest, path), content)
    return 0


def all_exercise_files(root):
    """Every exercise's files, chapter by chapter: an exercise not committed
    yet (a course author's work in progress) is taken from the working tree."""
    files = {}
    exercises = os.path.join(root, "exercises")
    for chapter in sorted(os.listdir(exercises)):
        prefix = f"exercises/{chapter}"
        if os.path.isdir(os.path.join(root, prefix)):
            files.update(committed_files(root, prefix))
    return files


if __name__ == "__main__":
    sys.exit(main())
