"""Nurturing: workflow definitions (`leadline.core.workflows`), the enrolment engine (`engine`), sandboxed email
rendering (`rendering`), signed links (`tokens`) and SMTP sending at most once (`sending`)."""
