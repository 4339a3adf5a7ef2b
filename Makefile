# Zeitwork. `make help` lists the targets.

GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
STATE_DIR ?= /var/lib/zeitwork
LDFLAGS   := -s -w -X main.version=$(VERSION)

.PHONY: help build web web-test web-budget deps deps-test up test test-short vet generate check-generated bench bench-edge bench-deploy bench-build bench-geodns bench-lb bench-scheduler bench-vm clean

help:
	@echo "make up               install what is missing, build, run every role and deploy the sample app (root)"
	@echo "make test             install what is missing, vet, check generated code, run every test with -race (root)"
	@echo "make build            build the dashboard (make web), bin/zeitwork and bin/zeitwork-init"
	@echo "make web              generate the dashboard (web/) into internal/web/dist, embedded by the build"
	@echo "make bench            run the benchmarks; results in bench/results and docs/benchmarks.md"
	@echo "make generate         regenerate sqlc code"

build: web
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/zeitwork ./cmd/zeitwork
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/zeitwork-init ./cmd/zeitwork-init

deps:
	./scripts/install-deps.sh

# The dashboard: a Nuxt app generated to static files and copied where
# package internal/web embeds them. npm ci runs again only when the lock
# file changed; the app is generated again only when a source changed.
NPM      ?= npm
WEB_SRC  := $(shell find web -path web/node_modules -prune -o -path web/.nuxt -prune -o -path web/.output -prune -o -path web/dist -prune -o -type f -print 2>/dev/null)

web: internal/web/dist/index.html

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund --loglevel=error

internal/web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && $(NPM) run --silent generate >/dev/null
	find internal/web/dist -mindepth 1 ! -name .gitkeep -delete
	cp -r web/.output/public/. internal/web/dist/
	@touch $@

# Vitest unit tests of the dashboard's logic, and a check that every
# locked package runs on Debian 12's Node.js 18.
web-test: web/node_modules/.package-lock.json
	cd web && node scripts/engines.mjs
	cd web && $(NPM) test --silent

# Fails when the dashboard's first load is over 250 kB gzipped.
web-budget: web
	node web/scripts/budget.mjs internal/web/dist

# The tests also need SeaweedFS (the registry's S3 tests), built from source:
# only `make test` waits for it, never `make up`.
deps-test:
	ZEITWORK_TEST_DEPS=1 ./scripts/install-deps.sh

up: deps build
	./bin/zeitwork up --state-dir $(STATE_DIR)

vet:
	$(GO) vet ./...
	@undocumented=$$($(GO) list -f '{{if not .Doc}}{{.ImportPath}}{{end}}' ./...); \
	test -z "$$undocumented" || { echo "packages without a doc comment: $$undocumented"; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

generate:
	cd internal/store && $(GO) tool sqlc generate

# Fails when the committed sqlc output differs from what the queries give.
check-generated:
	cd internal/store && $(GO) tool sqlc diff

test: deps-test web web-test web-budget vet check-generated
	$(GO) test -race -count=1 -timeout 30m ./...

test-short:
	$(GO) test -count=1 -short ./...

bench: bench-deploy bench-build bench-edge bench-geodns bench-lb bench-scheduler bench-vm

bench-edge: deps
	./bench/edge/run.sh

bench-geodns:
	./bench/geodns/run.sh

bench-deploy: build
	./bench/deploy/run.sh

bench-build: build
	./bench/build/run.sh

bench-lb:
	./bench/lb/run.sh

bench-scheduler:
	./bench/scheduler/run.sh

bench-vm: deps
	./bench/vm/run.sh

clean:
	rm -rf bin
