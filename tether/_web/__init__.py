"""`tether web`: people in the loop in a browser (see tether/web.py for the public names).

An approvals inbox, live run pages and chats, served by Starlette; each page shows only
the runs its signed-in user may see, and every decision it sends is signed by the app's
service key for that user.
"""
