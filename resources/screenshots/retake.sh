#!/bin/sh
# Retake the README's screenshots with the shipped weights, offscreen, as a first launch shows them (a
# screenshot run never reads or writes your settings): sh resources/screenshots/retake.sh
set -e
cd "$(dirname "$0")/../.."
SKETCHPAD="${SKETCHPAD:-.venv/bin/sketchpad}"
export QT_QPA_PLATFORM=offscreen
"$SKETCHPAD" app --device cpu --theme light --screenshot resources/screenshots/first-launch.png
"$SKETCHPAD" app --device cpu --theme light --training-panel --screenshot resources/screenshots/training-dock.png
