// Package ui presents a timeline: a pure ladder layout (lanes, rows, arrow
// labels) with a plain-text renderer, and the terminal dashboard on top of
// them. Only ui imports tview and tcell. It never captures, decodes or runs
// scenarios: it is handed trace events.
package ui
