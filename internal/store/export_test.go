package store

// MigrateTo applies the migrations up to version last.
var MigrateTo = migrateTo
