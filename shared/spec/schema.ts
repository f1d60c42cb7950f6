// The stack spec: the one JSON document a user sends to describe a Guacamole jump server.
// The schema is the single source of truth: TypeScript types are derived from it (json-schema-to-ts)
// and ajv applies its defaults, so what the docs say, what the validator accepts and what the code
// sees can't drift apart. Rules JSON Schema can't express (CIDR containment, cross-field checks) live
// in validate.ts.

/** Stack names feed every Azure resource name; this is the intersection of what they all accept
 * (Key Vault's 24 characters minus our prefix and suffix is the tightest), lowercase because DNS
 * labels and MySQL server names are. */
export const STACK_NAME_PATTERN = "^(?!.*--)[a-z][a-z0-9-]{1,13}[a-z0-9]$";

const cidr = { type: "string", format: "ipv4-cidr" } as const;

export const STACK_SPEC_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://jumpgate.dev/schemas/stack-spec.json",
  title: "Jumpgate stack spec",
  description: "Desired state of one Apache Guacamole jump server stack on Azure.",
  type: "object",
  additionalProperties: false,
  required: ["name", "subscriptionId", "resourceGroup", "location"],
  properties: {
    name: {
      type: "string",
      pattern: STACK_NAME_PATTERN,
      description:
        "3-15 characters: lowercase letters, digits and single hyphens; starts with a letter, ends with a letter or digit.",
    },
    subscriptionId: { type: "string", format: "uuid", description: "Azure subscription that holds the stack." },
    resourceGroup: {
      type: "string",
      minLength: 1,
      maxLength: 90,
      pattern: "^[-\\w.()]*[-\\w()]$",
      description: "Resource group for every resource of the stack (created if missing).",
    },
    location: { type: "string", pattern: "^[a-z][a-z0-9]{2,30}$", description: "Azure region, e.g. westeurope." },
    tags: {
      type: "object",
      maxProperties: 40,
      propertyNames: { type: "string", pattern: "^[^<>%&\\\\?/]{1,512}$" },
      additionalProperties: { type: "string", maxLength: 256 },
      default: {},
      description: "Extra tags for every resource. Jumpgate adds `jumpgate-stack` itself.",
    },
    network: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        addressSpace: { ...cidr, default: "10.40.0.0/16" },
        webSubnet: { ...cidr, default: "10.40.1.0/24", description: "Subnet of the web nodes." },
        databaseSubnet: {
          ...cidr,
          default: "10.40.2.0/24",
          description: "Subnet delegated to the MySQL flexible server (private access).",
        },
        adminSourceRanges: {
          type: "array",
          items: cidr,
          maxItems: 50,
          uniqueItems: true,
          default: [],
          description:
            "When set, HTTPS is allowed only from these ranges instead of the whole Internet (port 80 stays open while HTTP-01 certificates are used).",
        },
      },
    },
    fleet: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        mode: { enum: ["availabilitySet", "scaleSet"], default: "availabilitySet" },
        size: { type: "integer", minimum: 1, maximum: 50, default: 2, description: "Number of web nodes now." },
        min: { type: "integer", minimum: 1, maximum: 50, default: 2, description: "Scaling never goes below this." },
        max: { type: "integer", minimum: 1, maximum: 50, default: 4, description: "Scaling never goes above this." },
        vmSize: { type: "string", pattern: "^Standard_[A-Za-z0-9_]{2,40}$", default: "Standard_B2s" },
        image: {
          type: "object",
          additionalProperties: false,
          required: ["publisher", "offer", "sku"],
          default: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
          properties: {
            publisher: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" },
            offer: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" },
            sku: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" },
            version: { type: "string", pattern: "^(latest|[0-9]+\\.[0-9]+\\.[0-9]+)$", default: "latest" },
          },
        },
        zones: {
          type: "array",
          items: { enum: ["1", "2", "3"] },
          uniqueItems: true,
          default: [],
          description: "Availability zones (scale sets only; an availability set spreads over fault domains).",
        },
      },
    },
    database: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        skuName: { type: "string", pattern: "^Standard_[A-Za-z0-9_]{2,40}$", default: "Standard_B1ms" },
        tier: { enum: ["Burstable", "GeneralPurpose", "MemoryOptimized"], default: "Burstable" },
        version: { enum: ["8.0"], default: "8.0", description: "MySQL major version (8.0.21 on Flexible Server)." },
        storageGb: { type: "integer", minimum: 20, maximum: 16384, default: 20 },
        backupRetentionDays: { type: "integer", minimum: 1, maximum: 35, default: 7 },
        geoRedundantBackup: { type: "boolean", default: false },
        highAvailability: { enum: ["Disabled", "ZoneRedundant", "SameZone"], default: "Disabled" },
      },
    },
    tls: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        hostname: {
          type: "string",
          format: "hostname",
          maxLength: 253,
          pattern: "^[a-z0-9.-]+\\.[a-z]{2,63}$",
          description: "Custom domain for the jump server. Default: the public IP's DNS label FQDN.",
        },
        dnsLabel: {
          type: "string",
          pattern: "^[a-z][a-z0-9-]{1,61}[a-z0-9]$",
          description: "DNS label of the public IP (<label>.<location>.cloudapp.azure.com). Default: the stack name.",
        },
        acme: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            directoryUrl: {
              type: "string",
              format: "uri",
              pattern: "^https://",
              default: "https://acme-v02.api.letsencrypt.org/directory",
            },
            contact: { type: "string", format: "email", maxLength: 254 },
            challenge: { enum: ["http-01", "dns-01"], default: "http-01" },
            dnsZone: {
              type: "object",
              additionalProperties: false,
              required: ["resourceGroup", "name"],
              properties: {
                subscriptionId: { type: "string", format: "uuid" },
                resourceGroup: { type: "string", minLength: 1, maxLength: 90, pattern: "^[-\\w.()]*[-\\w()]$" },
                name: { type: "string", format: "hostname", maxLength: 253, pattern: "^[a-z0-9.-]+\\.[a-z]{2,63}$" },
              },
              description: "Azure DNS zone for DNS-01 challenges (required for dns-01).",
            },
          },
        },
      },
    },
    guacamole: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        version: { enum: ["1.6.0"], default: "1.6.0", description: "A version of the pinned, checksummed catalog." },
      },
    },
    policies: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        repair: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            enabled: { type: "boolean", default: true },
            maxUnhealthyPercent: { type: "integer", minimum: 1, maximum: 100, default: 50 },
            maxRepairsPerHour: { type: "integer", minimum: 0, maximum: 20, default: 3 },
            debounceSeconds: { type: "integer", minimum: 0, maximum: 3600, default: 60 },
            suspendAfterFailedRepairs: { type: "integer", minimum: 1, maximum: 10, default: 3 },
          },
        },
        scale: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            enabled: { type: "boolean", default: false },
            metric: { enum: ["cpu", "sessions"], default: "cpu" },
            cooldownMinutes: { type: "integer", minimum: 1, maximum: 1440, default: 10 },
            drainTimeoutMinutes: { type: "integer", minimum: 0, maximum: 1440, default: 60 },
          },
        },
        rotation: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            databaseCredentialMaxAgeDays: { type: "integer", minimum: 1, maximum: 365, default: 30 },
            adminPasswordMaxAgeDays: { type: "integer", minimum: 1, maximum: 365, default: 90 },
          },
        },
      },
    },
  },
} as const;
