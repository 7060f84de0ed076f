# The request log that chat-and-logs.md shows: eleven turns of chat, then a run (request 12), then a
# chat whose second turn fails (its model answers an error for "phone").
printf '%s\n' "My card was charged twice" "Can I get one of them back?" "Where do I find my invoices?" \
  "The app crashes when I open it" "It says error 42" "Thanks" "Is my refund on its way?" \
  "Why was I billed twice this month?" "Login fails with an error" "Installing the update fails" \
  "My payment did not go through" | llmnet chat support.json > /dev/null 2>&1
llmnet run support.json "My invoice shows a double charge" > /dev/null 2>&1
printf '%s\n' "The app crashes at login" "And on my phone too" | llmnet chat support.json > /dev/null 2>&1 || true
