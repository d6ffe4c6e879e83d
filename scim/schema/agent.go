package schema

import "github.com/scimtrail/scimtrail/scim/filter"

// AgentSchema is the core Agent schema of draft-wzdk-scim-agent-resource-00 (June 2026).
const AgentSchema = "urn:ietf:params:scim:schemas:core:2.0:Agent"

// Agent returns the Agent resource type of draft-wzdk-scim-agent-resource-00: AI agents and
// other non-human identities, served at /Agents. scimtrail backs it with its service
// accounts, so it carries the attributes a service account has.
func Agent() *ResourceType {
	return &ResourceType{
		ID:          "Agent",
		Name:        "Agent",
		Endpoint:    "/Agents",
		Description: "Agent identities: non-human identities, each with one accountable human owner",
		Schema:      CoreAgent(),
	}
}

// CoreAgent is the subset of the draft's Agent schema that a service account holds:
// agentUserName (its name), description, active, and owners, which here must list exactly
// one User of the tenant — the accountable human. The draft's other attributes are not
// stored and so not offered.
func CoreAgent() *Schema {
	return &Schema{
		ID:          AgentSchema,
		Name:        "Agent",
		Description: "Agent identity",
		Attributes: []Attribute{
			str("agentUserName", "The agent's name, as the client knows it.", required),
			str("description", "What the agent is for."),
			attr("active", filter.TypeBoolean, "Whether the agent may authenticate. Deactivation is final: the agent's keys are revoked."),
			complexAttr("owners", "The accountable human owner: exactly one User of the tenant.", []Attribute{
				str("value", "The id of the owning User.", required),
				attr("$ref", filter.TypeReference, "The URI of the owning User.", refTypes("User"), readOnly),
				str("display", "The owner's userName.", readOnly),
			}, multi, required),
		},
	}
}
