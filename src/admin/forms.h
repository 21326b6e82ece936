#pragma once
// Record forms generated from a collection: one labelled input per field,
// in the definition's order, each shaped by the field's JSON Schema (the
// same schema the API validates against: type, format, enum, lengths,
// bounds, multiplicity). And back: a posted form made into the JSON body the
// API takes. Nothing here is written per collection, so a schema change
// changes the form.
#include <nlohmann/json.hpp>
#include <string>

#include "admin/common.h"

namespace hearth::admin {

// The collection as the control API answers GET .../collections/{name}
// (its `fields` and its JSON `schema`). `record`: the values to show (an
// object; {} for a new record). `errors`: the API's per-field answer
// ({"title": {"message": ...}}) shown beside each input. The form posts to
// `action` with the CSRF token. Inputs are named "f.<field>".
std::string RecordForm(const nlohmann::json& collection, const nlohmann::json& record,
                       const nlohmann::json& errors, const std::string& action,
                       const std::string& csrf, const std::string& submit_label, bool is_new);

// The JSON body for the API from a posted record form. Values that cannot
// be what the field is (a number that is not one, JSON that does not parse)
// are left out and named in *errors, in the API's shape. `is_new`: an empty
// password on an edit form means "unchanged".
nlohmann::json FormToRecord(const nlohmann::json& collection, const Form& form, bool is_new,
                            nlohmann::json* errors);

// The fields a console form shows: not system ones but the auth
// collection's email, emailVisibility, verified and password.
bool ShownInForm(const nlohmann::json& field);

}  // namespace hearth::admin
